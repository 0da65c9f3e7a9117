//! The engine: every compiled rule, run over a stream of events.

use secops_event::{Event, Timestamp};
use secops_rules::CheckedRule;

use crate::alert::Alert;
use crate::rule::{CompiledRule, Runtime, Selector};
use crate::threat_match::IndicatorSet;
use crate::CompileError;

#[derive(Debug)]
pub struct Engine {
    rules: Vec<CompiledRule>,
}

impl Engine {
    /// Compiles every rule; a rule that cannot run is returned with its error, never run half-way.
    pub fn new(rules: &[CheckedRule], now: Timestamp) -> (Engine, Vec<(String, CompileError)>) {
        Engine::with_indicators(rules, now, &IndicatorSet::default())
    }

    /// Like [`Engine::new`], with indicators for `threat_match` rules.
    pub fn with_indicators(
        rules: &[CheckedRule],
        now: Timestamp,
        indicators: &IndicatorSet,
    ) -> (Engine, Vec<(String, CompileError)>) {
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        for rule in rules {
            match CompiledRule::compile_with(rule, now, indicators) {
                Ok(c) => compiled.push(c),
                Err(e) => errors.push((rule.file.rule.id.clone(), e)),
            }
        }
        (Engine { rules: compiled }, errors)
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Every rule's selector (to share with worker threads) and runtime (to feed on one thread), by index.
    pub fn split(&mut self) -> (Vec<&Selector>, Vec<&mut Runtime>) {
        self.rules.iter_mut().map(CompiledRule::split).unzip()
    }

    /// Runs every rule on `event` (events should arrive in time order for stateful rules).
    pub fn process(&mut self, event: &Event, out: &mut Vec<Alert>) {
        for rule in &mut self.rules {
            rule.process(event, out);
        }
    }
}
