//! Cell removals (contract C5) on both of the backend's row-write paths: the
//! one-script path of small rows, and the MULTI/EXEC path of large rows and
//! of rows with more hash fields than a script takes (where the removals go
//! as a plain HDEL, never through Lua's stack). The engine's field-level
//! clear only sends removals, which always take the script path; a row write
//! that sets large cells and removes others is what a read-modify-write
//! sends, so both paths are tested here through the backend directly.

mod support;

use tq_core::{CellWrite, RowWrite, StorageBackend, Tensor};

fn fields_of(state: &tq_core::RowState) -> Vec<String> {
    let mut fields = state.fields.clone();
    fields.sort();
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_set_and_a_removal_land_together() {
    for backend in [
        support::standalone().await.unwrap(),
        support::clustered().await.unwrap(),
    ] {
        let first = RowWrite::new("k")
            .with_cell("a", Tensor::from_vec(vec![1f32; 4], [4]).unwrap())
            .with_cell("b", Tensor::from_vec(vec![2f32; 4], [4]).unwrap());
        backend.put("p", vec![first]).await.unwrap();
        // 256 KiB: far over the script path's 8 KiB.
        let big = Tensor::from_vec(vec![3f32; 64 * 1024], [64 * 1024]).unwrap();
        let write = RowWrite::new("k")
            .with_cell("c", big.clone())
            .with_removed("a");
        let states = backend.put("p", vec![write]).await.unwrap();
        assert_eq!(fields_of(&states[0]), ["b", "c"]);
        assert!(states[0].existed);
        let got = backend
            .get("p", &["k".to_owned()], None)
            .await
            .unwrap()
            .remove(0)
            .expect("the row exists");
        let mut names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        let c = got.iter().find(|(f, _)| f == "c").unwrap();
        assert_eq!(c.1.as_tensor().unwrap().data(), big.data());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_more_fields_than_a_script_takes_works() {
    const FIELDS: usize = 2_000;
    for backend in [
        support::standalone().await.unwrap(),
        support::clustered().await.unwrap(),
    ] {
        let mut row = RowWrite::new("wide");
        for i in 0..FIELDS {
            row = row.with_cell(
                format!("f{i}"),
                Tensor::from_vec(vec![i as u32], [1]).unwrap(),
            );
        }
        backend.put("p", vec![row]).await.unwrap();
        // Remove all but the last field, in one write with no value set.
        let mut removal = RowWrite::new("wide");
        removal.cells = (0..FIELDS - 1)
            .map(|i| (format!("f{i}"), CellWrite::Remove))
            .collect();
        let states = backend.put("p", vec![removal]).await.unwrap();
        assert_eq!(states[0].fields, [format!("f{}", FIELDS - 1)]);
        assert!(states[0].existed);
        // The same removal of a missing row leaves it missing.
        let mut ghost = RowWrite::new("ghost");
        ghost.cells = (0..FIELDS)
            .map(|i| (format!("f{i}"), CellWrite::Remove))
            .collect();
        let states = backend.put("p", vec![ghost]).await.unwrap();
        assert!(!states[0].existed);
        assert!(states[0].fields.is_empty());
        let listing = backend.list(Some("p")).await.unwrap();
        assert!(listing["p"].keys().eq(["wide"]), "{listing:?}");
    }
}

/// A conditional write goes as one script whatever its width: a new row of
/// more hash fields than one `HSET` inside the script takes (1,000
/// arguments), then the same width written over it. The new row's answer
/// is built from the write itself (no read-back), the existing row's from
/// the hash; both must name every field and tag entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_write_of_a_wide_row_lands_whole() {
    use tq_core::{ConditionalBackend, PutIfOutcome, RowVersion};
    const FIELDS: usize = 700;
    for backend in [
        support::standalone().await.unwrap(),
        support::clustered().await.unwrap(),
    ] {
        let wide = |value: u32| {
            let mut tag = tq_core::Tag::new();
            tag.insert("status".into(), serde_json::json!(format!("v{value}")));
            let mut row = RowWrite::new("wide").with_tag(tag);
            for i in 0..FIELDS {
                row = row.with_cell(format!("f{i}"), Tensor::from_vec(vec![value], [1]).unwrap());
            }
            row
        };
        let all: Vec<String> = {
            let mut all: Vec<String> = (0..FIELDS).map(|i| format!("f{i}")).collect();
            all.sort();
            all
        };
        for (value, expected) in [(1u32, RowVersion::ABSENT), (2, RowVersion::ABSENT)] {
            let expected = if value == 1 {
                expected
            } else {
                backend
                    .get_versioned("p", &["wide".to_owned()], None)
                    .await
                    .unwrap()[0]
                    .version
            };
            let outcome = backend
                .put_if("p", vec![(wide(value), expected)])
                .await
                .unwrap();
            let PutIfOutcome::Written(state) = &outcome[0] else {
                panic!("{outcome:?}");
            };
            assert_eq!(state.existed, value == 2);
            assert_eq!(fields_of(state), all);
            assert_eq!(
                state.tag.get("status"),
                Some(&serde_json::json!(format!("v{value}")))
            );
            let got = backend
                .get("p", &["wide".to_owned()], None)
                .await
                .unwrap()
                .remove(0)
                .expect("the row exists");
            assert_eq!(got.len(), FIELDS);
            assert!(
                got.iter()
                    .all(|(_, v)| v.as_tensor().unwrap().data()[..] == value.to_le_bytes())
            );
        }
        let listing = backend.list(Some("p")).await.unwrap();
        assert!(listing["p"].keys().eq(["wide"]), "{listing:?}");
        assert_eq!(
            listing["p"]["wide"].get("status"),
            Some(&serde_json::json!("v2"))
        );
    }
}
