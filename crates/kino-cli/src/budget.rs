//! From `--max-cost` (and a profile's `max_cost`) to the limits a command keeps.

use kino_core::cost::{Amount, Budget};

use crate::args::BudgetArgs;
use crate::error::CommandError;
use crate::settings::Settings;

/// The limits of a command: its `--max-cost`, and the selected profile's `max_cost`.
pub fn for_command(settings: &Settings, args: &BudgetArgs) -> Result<Budget, CommandError> {
    let profile: Vec<(String, String)> = match &settings.profile {
        Some(name) => settings
            .profile_max_cost()
            .iter()
            .map(|l| (l.clone(), format!("profile {name}")))
            .collect(),
        None => Vec::new(),
    };
    budget(args, &profile)
}

/// The limits of one command: every `--max-cost`, plus those the profile in use sets.
pub fn budget(args: &BudgetArgs, profile: &[(String, String)]) -> Result<Budget, CommandError> {
    let mut b = Budget::new(args.allow_unknown_cost);
    for text in &args.max_cost {
        let amount = Amount::parse(text).map_err(|e| {
            CommandError::usage(format!("invalid `--max-cost`: {e}"))
                .hint("for example --max-cost \"5 CNY\" or --max-cost \"200 credits\"")
        })?;
        b.cap(amount, "--max-cost");
    }
    for (text, source) in profile {
        let amount = Amount::parse(text).map_err(|e| {
            CommandError::new(
                kino_core::ErrorKind::Config,
                format!("invalid `max_cost` of {source}: {e}"),
            )
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
        let args = BudgetArgs {
            max_cost: vec!["5".into()],
            allow_unknown_cost: false,
        };
        let e = budget(&args, &[]).unwrap_err();
        assert_eq!(e.kind, kino_core::ErrorKind::Usage);
        assert!(
            e.message.contains("`--max-cost`") && e.message.contains("unit"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_bad_profile_limit_is_a_configuration_error() {
        let e = budget(
            &BudgetArgs::default(),
            &[("lots".into(), "profile work".into())],
        )
        .unwrap_err();
        assert_eq!(e.kind, kino_core::ErrorKind::Config);
        assert!(e.message.contains("profile work"), "{}", e.message);
    }
}
