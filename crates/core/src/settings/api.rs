//! The settings facade methods of [`Backend`] (CONTRACT.md §1.6).

use serde_json::Value;

use super::Settings;
use crate::error::Result;
use crate::validate::missing_body;
use crate::Backend;

impl Backend {
    /// The current settings (a fresh snapshot).
    pub(crate) async fn settings(&self) -> Result<Settings> {
        self.check_open()?;
        self.store().read(super::load).await
    }

    /// `getSettings()` / `GET /settings`.
    pub async fn get_settings(&self) -> Result<Settings> {
        self.settings().await
    }

    /// `updateSettings(patch)` / `POST /settings`.
    pub async fn update_settings(&self, patch: &Value) -> Result<Settings> {
        self.check_open()?;
        if patch.is_null() {
            return Err(missing_body());
        }
        let patch = super::validate_patch(patch)?;
        self.store().write(move |c| super::store(c, &patch)).await
    }
}
