//! The one list of audited actions, each `object.verb`; `docs/audit.md` describes them.

macro_rules! actions {
    ($($(#[doc = $doc:literal])* $variant:ident => $text:literal,)*) => {
        /// What an audit entry records was done, as `object.verb`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Action {
            /// Every action, in the order of `docs/audit.md`.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The action as stored: `service.suspend`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $text,)*
                }
            }
        }
    };
}

actions! {
    /// A client added.
    ClientAdd => "client.add",
    /// A client's credit adjusted by staff (and unpaid invoices paid from it).
    ClientCredit => "client.credit",
    /// A department added.
    DepartmentAdd => "department.add",
    /// A staff account added (its role and departments; never its password).
    StaffAdd => "staff.add",
    /// A staff account disabled (its sessions ended).
    StaffDisable => "staff.disable",
    /// A disabled staff account enabled again.
    StaffEnable => "staff.enable",
    /// A staff account's password changed (that it changed, never a value).
    StaffPasswd => "staff.passwd",
    /// A staff account's role changed.
    StaffRole => "staff.role",
    /// A staff account's departments replaced.
    StaffDepartments => "staff.departments",
    /// A TOTP secret enrolled for a staff account (not yet on; never the secret).
    StaffTotpEnroll => "staff.totp_enroll",
    /// A staff account's TOTP confirmed with a code and turned on (never the code).
    StaffTotpConfirm => "staff.totp_confirm",
    /// A staff account's TOTP removed.
    StaffTotpRemove => "staff.totp_remove",
    /// A client's login password set or replaced (the login enabled).
    ClientLoginSet => "client_login.set",
    /// A client's login disabled (its sessions ended).
    ClientLoginDisable => "client_login.disable",
    /// An API token issued: its name, scope and expiry (never the token or its hash).
    ApiTokenIssue => "api_token.issue",
    /// An API token revoked.
    ApiTokenRevoke => "api_token.revoke",
    /// A session opened by a login (the actor is the account that logged in).
    SessionLogin => "session.login",
    /// A login refused after its checks ran (the actor is the email as typed).
    SessionLoginFailed => "session.login_failed",
    /// A session ended by its logout.
    SessionLogout => "session.logout",
    /// A plan added (by hand or as one of a module's presets).
    PlanAdd => "plan.add",
    /// A plan's price for a currency and period set or removed.
    PlanPrice => "plan.price",
    /// A plan's sign-up deposit for a currency set or removed.
    PlanDeposit => "plan.deposit",
    /// A plan's usage billing mode set.
    PlanUsage => "plan.usage",
    /// A plan's usage unit price set.
    PlanUsagePrice => "plan.usage_price",
    /// A currency added.
    CurrencyAdd => "currency.add",
    /// A currency's rate, rounding or symbol changed.
    CurrencyUpdate => "currency.update",
    /// A country's tax rate set.
    TaxSet => "tax.set",
    /// A handler added (its settings recorded as key names only).
    HandlerAdd => "handler.add",
    /// A handler enabled.
    HandlerEnable => "handler.enable",
    /// A handler disabled.
    HandlerDisable => "handler.disable",
    /// A panel's existing accounts imported as services of a handler.
    HandlerImport => "handler.import",
    /// A handler's services reconciled with its panel.
    HandlerSync => "handler.sync",
    /// A module file installed into the modules directory.
    ModuleInstall => "module.install",
    /// The sealed settings re-sealed with the current key.
    SecretsRotate => "secrets.rotate",
    /// A service ordered (its create queued, or held for its invoice).
    ServiceOrder => "service.order",
    /// A suspend queued.
    ServiceSuspend => "service.suspend",
    /// An unsuspend queued.
    ServiceUnsuspend => "service.unsuspend",
    /// A terminate queued.
    ServiceTerminate => "service.terminate",
    /// A plan change queued.
    ServiceChangePlan => "service.change_plan",
    /// A renewal queued.
    ServiceRenew => "service.renew",
    /// A module's admin action queued.
    ServiceAction => "service.action",
    /// A control-panel sign-in link issued (the link itself is never recorded).
    ServiceSso => "service.sso",
    /// A service given a billing term from a date.
    ServiceSchedule => "service.schedule",
    /// An operation finished: the service's status before and after.
    OperationDone => "operation.done",
    /// A failed or manual operation queued again.
    OperationRetry => "operation.retry",
    /// An operation cancelled.
    OperationCancel => "operation.cancel",
    /// A manual task taken.
    TaskTake => "task.take",
    /// A manual task completed (its operation done as if the module had answered).
    TaskComplete => "task.complete",
    /// A manual task sent back for another automatic try.
    TaskSendBack => "task.send_back",
    /// A draft invoice created.
    InvoiceCreate => "invoice.create",
    /// An invoice issued (numbered, unpaid).
    InvoiceIssue => "invoice.issue",
    /// A payment recorded on an invoice.
    InvoicePay => "invoice.pay",
    /// Money paid on an invoice given back.
    InvoiceRefund => "invoice.refund",
    /// An invoice cancelled.
    InvoiceCancel => "invoice.cancel",
    /// Overdue emails queued for unpaid invoices past due.
    InvoiceOverdue => "invoice.overdue",
    /// A usage file imported (one entry per import, with its counts).
    UsageImport => "usage.import",
    /// A past month's usage billed again.
    BillingRun => "billing.run",
    /// The daily run for a date (billing's day, then the modules' daily work).
    DailyRun => "daily.run",
}

impl Action {
    /// The kind of object the action is done to: its first word (`service`).
    pub fn object_kind(self) -> &'static str {
        let s = self.as_str();
        s.split_once('.').map_or(s, |(kind, _)| kind)
    }

    /// The action named `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn every_action_is_one_object_and_one_verb_and_named_once() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            let (object, verb) = a.as_str().split_once('.').expect("object.verb");
            assert!(
                !object.is_empty() && !verb.is_empty() && !verb.contains('.'),
                "{a}"
            );
            assert_eq!(a.object_kind(), object);
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        assert_eq!(Action::parse("service.explode"), None);
    }

    #[test]
    fn docs_audit_md_lists_every_action() {
        let doc = include_str!("../../../../docs/audit.md");
        for a in Action::ALL {
            let (object, verb) = a.as_str().split_once('.').unwrap_or_default();
            assert!(
                doc.contains(&format!("`{a}`"))
                    || doc.contains(&format!("`.{verb}`")) && doc.contains(&format!("`{object}.")),
                "docs/audit.md does not list {a}"
            );
        }
    }
}
