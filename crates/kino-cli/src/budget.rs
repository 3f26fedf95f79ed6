//! From `--max-cost` (and a profile's `max_cost`) to the limits a command keeps.

use kino_core::cost::{Amount, Budget};

use crate::args::BudgetArgs;
use crate::error::CommandError;
use crate::settings::Settings;

/// Where a limit given on the command line comes from.
const COMMAND_LINE: &str = "--max-cost";

/// The limits in force for a command, as written, each with where it was set: every
/// `--max-cost`, then the selected profile's `max_cost`.
pub fn limits(settings: &Settings, args: &BudgetArgs) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = args
        .max_cost
        .iter()
        .map(|t| (t.clone(), COMMAND_LINE.to_string()))
        .collect();
    if let Some(name) = &settings.profile {
        all.extend(
            settings
                .profile_max_cost()
                .iter()
                .map(|l| (l.clone(), format!("profile {name}"))),
        );
    }
    all
}

/// The limits of a command: its `--max-cost`, and the selected profile's `max_cost`.
pub fn for_command(settings: &Settings, args: &BudgetArgs) -> Result<Budget, CommandError> {
    budget(args.allow_unknown_cost, &limits(settings, args))
}

/// A budget from limits as written. A bad one on the command line is a usage error (exit 2);
/// one from kino.toml is a configuration error (exit 3) naming the profile.
pub fn budget(allow_unknown: bool, limits: &[(String, String)]) -> Result<Budget, CommandError> {
    let mut b = Budget::new(allow_unknown);
    for (text, source) in limits {
        let amount = Amount::parse(text).map_err(|e| {
            if source == COMMAND_LINE {
                CommandError::usage(format!("invalid `--max-cost`: {e}"))
                    .hint("for example --max-cost \"5 CNY\" or --max-cost \"200 credits\"")
            } else {
                CommandError::new(
                    kino_core::ErrorKind::Config,
                    format!("invalid `max_cost` of {source}: {e}"),
                )
            }
        })?;
        b.cap(amount, source.clone());
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_limit_without_a_unit_is_refused_naming_the_option() {
        let e = budget(false, &[("5".into(), COMMAND_LINE.into())]).unwrap_err();
        assert_eq!(e.kind, kino_core::ErrorKind::Usage);
        assert!(
            e.message.contains("`--max-cost`") && e.message.contains("unit"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_bad_profile_limit_is_a_configuration_error() {
        let e = budget(false, &[("lots".into(), "profile work".into())]).unwrap_err();
        assert_eq!(e.kind, kino_core::ErrorKind::Config);
        assert!(e.message.contains("profile work"), "{}", e.message);
    }
}
