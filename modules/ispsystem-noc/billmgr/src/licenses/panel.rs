//! What people see: admin single sign-on, the client-area panel and the list of the
//! account's licenses for importing services.

use provisor_module_api::serde_json::json;
use provisor_module_api::{
    url_encode, AccountPage, ListAccountsRequest, ModuleError, Panel, PanelRow, RemoteAccount,
    RemoteStatus, ServiceInfo, SsoLink,
};

use super::*;

impl Licenses<'_> {
    /// Admin SSO: `session.newkey` with a fresh random key, then the browser login URL.
    pub fn admin_sso(&self) -> Result<SsoLink, ModuleError> {
        let s = self.settings();
        let key = random_key(&self.host.now());
        self.client.call(
            "admin SSO",
            "session.newkey",
            &[("username", &s.username), ("key", &key)],
        )?;
        Ok(SsoLink {
            url: format!(
                "{}?checkcookie=no&func=auth&username={}&key={key}",
                s.sso_url,
                url_encode(&s.username)
            ),
            expires_at: None,
        })
    }

    /// The client-area panel: license name, IP, key, expiry and status.
    pub fn client_area(
        &self,
        service: &ServiceInfo,
        remoteid: &str,
        title: &str,
    ) -> Result<Panel, ModuleError> {
        let mut panel = Panel {
            title: title.to_string(),
            ..Panel::default()
        };
        let row = |label: &str, value: &str| PanelRow {
            label: label.to_string(),
            value: value.to_string(),
        };
        let license = match self.license_of(service, remoteid)? {
            Some(id) => self.read(id)?,
            None => None,
        };
        match license {
            None => panel.rows.push(row("Status", "no license yet")),
            Some(l) => {
                panel.rows.push(row("License", &l.id.to_string()));
                panel.rows.push(row("License name", &l.licname));
                panel.rows.push(row("IP address", &l.ip));
                panel.rows.push(row(
                    "License key",
                    if l.lickey.is_empty() {
                        "(not issued yet)"
                    } else {
                        &l.lickey
                    },
                ));
                panel.rows.push(row("Expires", &l.expiredate));
                panel.rows.push(row("Status", l.status_text()));
            }
        }
        Ok(panel)
    }

    /// One page of the reseller account's licenses, pooled (`free.lic`) and deleted
    /// ones left out.
    pub fn list_accounts(&self, req: &ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        let mut all: Vec<License> = self
            .list()?
            .into_iter()
            .filter(|l| l.status != STATUS_DELETED && l.licname != FREE_NAME)
            .collect();
        all.sort_by_key(|l| l.id);
        let per_page = req.per_page.max(1) as usize;
        let page = req.page.max(1) as usize;
        let total = all.len();
        let accounts = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|l| RemoteAccount {
                remote_id: l.id.to_string(),
                email: String::new(),
                name: l.licname.clone(),
                status: match l.status {
                    STATUS_ACTIVE | STATUS_PROCESSING => RemoteStatus::Active,
                    STATUS_STOPPED => RemoteStatus::Suspended,
                    _ => RemoteStatus::Unknown,
                },
                plan_hint: l.pricelist.map(|p| p.to_string()),
                attributes: attrs(&[
                    ("licname", json!(l.licname)),
                    ("ip", json!(l.ip)),
                    ("expiredate", json!(l.expiredate)),
                ]),
            })
            .collect();
        Ok(AccountPage {
            accounts,
            next_page: (page * per_page < total).then_some(page as u32 + 1),
            total: Some(total as u64),
        })
    }
}
