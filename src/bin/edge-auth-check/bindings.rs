//! The worker's Durable Object binding, as wrangler.toml declares it (`--wrangler` only): without the single-use
//! store (`REPLAY_GUARD`, class `ReplayGuard` with SQLite storage) the worker refuses every sign-in
//! (503 `replay_store_unavailable`).

use toml::{Table, Value};

use crate::options::Options;
use crate::report::Report;

pub const REPLAY_GUARD_BINDING: &str = "REPLAY_GUARD";
pub const REPLAY_GUARD_CLASS: &str = "ReplayGuard";

pub fn check_replay_guard(report: &mut Report, options: &Options) {
    let Some(path) = &options.wrangler else { return };
    let Ok(Ok(table)) = std::fs::read_to_string(path).map(|t| toml::from_str::<Table>(&t)) else { return };
    match replay_guard_problem(&table, options.env.as_deref()) {
        None => {
            report.line(0, format!("replay:   {REPLAY_GUARD_BINDING} → Durable Object {REPLAY_GUARD_CLASS} (SQLite)"))
        }
        Some(why) => report
            .config_error(0, format!("{path}: {why}: every sign-in would be refused (503 replay_store_unavailable)")),
    }
}

/// What is wrong with the binding and its migration, if anything. Durable Object bindings are not inherited by
/// `[env.NAME]`: with `env`, its own `durable_objects` is read (and its own `migrations`, if it has any).
pub fn replay_guard_problem(table: &Table, env: Option<&str>) -> Option<String> {
    let scope = match env {
        Some(env) => table.get("env").and_then(|e| e.get(env)),
        None => Some(&Value::Table(table.clone())),
    };
    let section =
        env.map_or("[[durable_objects.bindings]]".to_string(), |e| format!("[[env.{e}.durable_objects.bindings]]"));
    let bindings =
        scope.and_then(|s| s.get("durable_objects")).and_then(|d| d.get("bindings")).and_then(Value::as_array);
    let Some(binding) =
        bindings.into_iter().flatten().find(|b| b.get("name").and_then(Value::as_str) == Some(REPLAY_GUARD_BINDING))
    else {
        return Some(format!("no Durable Object binding {REPLAY_GUARD_BINDING} ({section} name = \"{REPLAY_GUARD_BINDING}\", class_name = \"{REPLAY_GUARD_CLASS}\")"));
    };
    if binding.get("class_name").and_then(Value::as_str) != Some(REPLAY_GUARD_CLASS) {
        return Some(format!("the binding {REPLAY_GUARD_BINDING} must name class_name = \"{REPLAY_GUARD_CLASS}\""));
    }
    if binding.get("script_name").is_some() {
        return None; // the class lives in another worker, which carries its migration
    }
    // An environment may carry its own migrations; otherwise the top-level ones apply.
    let migrations =
        scope.and_then(|s| s.get("migrations")).or_else(|| table.get("migrations")).and_then(Value::as_array);
    let lists = |key: &str| {
        migrations.into_iter().flatten().any(|m| {
            m.get(key)
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c.as_str() == Some(REPLAY_GUARD_CLASS)))
        })
    };
    if lists("new_sqlite_classes") {
        None
    } else if lists("new_classes") {
        Some(format!("{REPLAY_GUARD_CLASS} is created with new_classes (key-value storage): it needs SQLite storage (new_sqlite_classes)"))
    } else {
        Some(format!(
            "no [[migrations]] entry creates {REPLAY_GUARD_CLASS} (new_sqlite_classes = [\"{REPLAY_GUARD_CLASS}\"])"
        ))
    }
}
