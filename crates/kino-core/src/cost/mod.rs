//! What jobs cost: amounts in a currency or in a platform's credits, a price table by provider,
//! model, mode, resolution and duration, estimates that say "unknown" rather than zero, and
//! budgets checked before anything is sent.

mod amount;
mod budget;
mod price;

pub use amount::{Amount, AmountError, Unit};
pub use budget::{Budget, OverBudget, Tally};
pub use price::{Billed, CHARGED_BASIS, Estimate, Per, PriceRule, PriceTable, Quantity};
