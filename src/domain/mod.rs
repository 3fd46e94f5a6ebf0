//! Domain types shared by the control plane and the data path.

pub mod api_key;
pub mod budget;
pub mod ids;
pub mod money;
pub mod role;
pub mod tenant_settings;
pub mod time;
