//! What the config tests check no error shows: a secret, and every text an
//! error offers (`Display`, `Debug`, each source).

/// A password or credential no error message, `Debug` output or error
/// source may show.
pub const SECRET: &str = "hunter2-do-not-print";

/// Every text an error offers: `Display`, `Debug` and each source.
pub fn all_text(err: &tq_facade::Error) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    text
}
