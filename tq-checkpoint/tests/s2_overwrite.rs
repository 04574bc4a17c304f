//! A save to a prefix that already holds a checkpoint is refused before it
//! writes anything, unless it is asked to overwrite.

mod common;

use common::{data_objects, dump, fill, memory_location, memory_store};
use tq_checkpoint::{LoadOptions, SaveOptions, load, read_manifest, save, save_with};
use tq_core::ErrorKind;

#[tokio::test]
async fn s2_save_over_an_existing_checkpoint_is_refused_unless_overwrite() {
    let store = memory_store();
    fill(&store).await;
    let location = memory_location();
    let first = save(&store, &location, Some(&["eval"])).await.unwrap();
    let objects = data_objects(&location).await;

    let err = save(&store, &location, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(
        err.context_value("object"),
        Some(location.manifest().as_ref()),
        "{err}"
    );
    assert_eq!(read_manifest(&location).await.unwrap(), first);
    assert_eq!(data_objects(&location).await, objects, "nothing written");

    let options = SaveOptions::default().with_overwrite(true);
    let second = save_with(&store, &location, &options).await.unwrap();
    assert_ne!(second.checkpoint_id, first.checkpoint_id);
    assert_eq!(read_manifest(&location).await.unwrap(), second);
    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&store).await);
}
