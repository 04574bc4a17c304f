//! Checkpoints of a [`TransferQueue`] on object storage: inherent methods
//! calling the tq-checkpoint crate with the queue's `[checkpoint]` settings
//! (so a URL's store gets its endpoint and credentials from the config or
//! the environment, never from the caller's code).

use tq_checkpoint::{LoadOptions, Manifest, SaveOptions};
use tq_core::Result;

use crate::checkpoint_settings::CheckpointSettings;
use crate::queue::TransferQueue;

impl TransferQueue {
    /// Saves `partitions` (`None`: every partition) to the checkpoint at
    /// `url` (`file:///dir`, `s3://bucket/prefix`, ...) and returns its
    /// manifest. Each partition is copied as it was at one instant of the
    /// save, or the save fails with `Conflict` (see [`SaveOptions`] for a
    /// fuzzy copy and tq-checkpoint's DESIGN.md). A prefix already holding
    /// a checkpoint is refused unless [`SaveOptions::overwrite`].
    pub async fn save_checkpoint(
        &self,
        url: &str,
        partitions: Option<&[&str]>,
    ) -> Result<Manifest> {
        let location = self.checkpoint.location(url)?;
        tq_checkpoint::save(self, &location, partitions).await
    }

    /// [`TransferQueue::save_checkpoint`] with all of [`SaveOptions`]
    /// (fuzzy copies, object and part sizes).
    pub async fn save_checkpoint_with(&self, url: &str, options: &SaveOptions) -> Result<Manifest> {
        let location = self.checkpoint.location(url)?;
        tq_checkpoint::save_with(self, &location, options).await
    }

    /// Restores every partition of the checkpoint at `url`, verified before
    /// anything is written; a target partition holding keys is refused
    /// (see [`TransferQueue::load_checkpoint_with`] and
    /// [`LoadOptions::replace`]).
    pub async fn load_checkpoint(&self, url: &str) -> Result<Manifest> {
        self.load_checkpoint_with(url, &LoadOptions::default())
            .await
    }

    /// [`TransferQueue::load_checkpoint`] with [`LoadOptions`] (`replace`,
    /// a subset of partitions, write sizes).
    pub async fn load_checkpoint_with(&self, url: &str, options: &LoadOptions) -> Result<Manifest> {
        let location = self.checkpoint.location(url)?;
        tq_checkpoint::load(self, &location, options).await
    }

    /// This queue with other object_store settings for checkpoint URLs (a
    /// config file's `[checkpoint]` table sets them at open).
    pub fn with_checkpoint_settings(mut self, settings: CheckpointSettings) -> Self {
        self.checkpoint = settings;
        self
    }
}
