//! What stops the run, as the checks find it, and each host's report.

use std::collections::BTreeMap;

use super::input::{Input, Report};

/// What stops the run.
#[derive(Debug, Default)]
pub struct Found {
    /// Problems of the whole input.
    pub problems: Vec<String>,
    /// Refused hosts and why.
    pub refused: BTreeMap<String, Vec<String>>,
}

impl Found {
    /// Refuses `host` for `reason`.
    pub fn refuse(&mut self, host: &str, reason: String) {
        self.refused
            .entry(host.to_string())
            .or_default()
            .push(reason);
    }
}

pub fn report_of<'a>(input: &'a Input, host: &str) -> Option<&'a Report> {
    input
        .hosts
        .iter()
        .position(|h| h == host)
        .and_then(|i| input.reports.get(i))
        .and_then(Option::as_ref)
}
