//! Files written in pieces (token shards), atomically, with the
//! workspace's one atomic writer ([`scalelab_common`]).

pub use scalelab_common::{temp_path, AtomicFile};
