//! Success answers that several dashboard endpoints share. Each endpoint's
//! own answer is a struct beside its handler; all of them carry
//! `"success": true`, as the contract's error body carries `false`.

use serde::Serialize;
use utoipa::ToSchema;

/// `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always `true`.
    pub success: bool,
}

impl Done {
    pub fn new() -> Self {
        Self { success: true }
    }
}

impl Default for Done {
    fn default() -> Self {
        Self::new()
    }
}

/// `{"success": true, "deleted": "<id>"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub success: bool,
    /// The id of what was deleted.
    pub deleted: String,
}

impl Deleted {
    pub fn new(id: String) -> Self {
        Self {
            success: true,
            deleted: id,
        }
    }
}
