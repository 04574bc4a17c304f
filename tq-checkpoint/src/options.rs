//! What a caller can ask of a save or a load.

/// Options of [`crate::save_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaveOptions {
    /// The partitions to save; `None`: every partition holding a key.
    pub partitions: Option<Vec<String>>,
    /// Keys read from the store per backend call, at most: the rows in
    /// flight.
    pub rows_per_read: usize,
    /// Bytes read from the store per backend call, about: fewer rows are
    /// read at once when rows are large (the size of the rows read so far
    /// sets the next read's row count).
    pub read_bytes: u64,
    /// A data object is closed once it reaches this many bytes (it always
    /// holds at least one row), so one partition may span several objects.
    pub object_bytes: u64,
    /// Multipart upload part size. S3 needs at least 5 MiB (but the last).
    pub part_bytes: usize,
    /// Accept a copy of a partition that changed during the save (rows
    /// written, cleared or added meanwhile), marked `consistent: false` in
    /// the manifest; also the only way to save from a backend without
    /// versioned reads. Without it such a save fails with `Conflict`
    /// (`Unsupported` for such a backend) and writes no manifest.
    pub allow_fuzzy: bool,
    /// Copies of one partition tried while it keeps changing under the
    /// save, before `Conflict`.
    pub attempts: u32,
    /// Replace a checkpoint already at the prefix (its manifest). Without
    /// it such a save is refused (`InvalidArgument`) before anything is
    /// written.
    pub overwrite: bool,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            partitions: None,
            rows_per_read: 256,
            read_bytes: 64 << 20,
            object_bytes: 256 << 20,
            part_bytes: 8 << 20,
            allow_fuzzy: false,
            attempts: 3,
            overwrite: false,
        }
    }
}

impl SaveOptions {
    /// Saves only `partitions`.
    pub fn with_partitions<S: AsRef<str>>(mut self, partitions: &[S]) -> Self {
        self.partitions = Some(partitions.iter().map(|p| p.as_ref().to_owned()).collect());
        self
    }

    /// Sets [`SaveOptions::object_bytes`].
    pub fn with_object_bytes(mut self, bytes: u64) -> Self {
        self.object_bytes = bytes;
        self
    }

    /// Sets [`SaveOptions::rows_per_read`].
    pub fn with_rows_per_read(mut self, rows: usize) -> Self {
        self.rows_per_read = rows;
        self
    }

    /// Sets [`SaveOptions::part_bytes`].
    pub fn with_part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes;
        self
    }

    /// Sets [`SaveOptions::read_bytes`].
    pub fn with_read_bytes(mut self, bytes: u64) -> Self {
        self.read_bytes = bytes;
        self
    }

    /// Sets [`SaveOptions::overwrite`].
    pub fn with_overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// Sets [`SaveOptions::attempts`].
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets [`SaveOptions::allow_fuzzy`].
    pub fn with_allow_fuzzy(mut self, yes: bool) -> Self {
        self.allow_fuzzy = yes;
        self
    }
}

/// Options of [`crate::load`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The partitions to restore; `None`: every partition of the checkpoint.
    pub partitions: Option<Vec<String>>,
    /// Clear a target partition that holds keys before restoring it. Without
    /// it such a load is refused (`InvalidArgument`) before anything is
    /// written.
    pub replace: bool,
    /// Rows per backend write, at most.
    pub rows_per_write: usize,
    /// Bytes of cells per backend write, about: a write is sent once its
    /// rows reach this size.
    pub write_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            partitions: None,
            replace: false,
            rows_per_write: 256,
            write_bytes: 64 << 20,
        }
    }
}

impl LoadOptions {
    /// Restores only `partitions`.
    pub fn with_partitions<S: AsRef<str>>(mut self, partitions: &[S]) -> Self {
        self.partitions = Some(partitions.iter().map(|p| p.as_ref().to_owned()).collect());
        self
    }

    /// Sets [`LoadOptions::rows_per_write`].
    pub fn with_rows_per_write(mut self, rows: usize) -> Self {
        self.rows_per_write = rows;
        self
    }

    /// Sets [`LoadOptions::write_bytes`].
    pub fn with_write_bytes(mut self, bytes: u64) -> Self {
        self.write_bytes = bytes;
        self
    }

    /// Sets [`LoadOptions::replace`].
    pub fn with_replace(mut self, yes: bool) -> Self {
        self.replace = yes;
        self
    }
}
