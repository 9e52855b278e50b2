//! The worker's Durable Object bindings, as wrangler.toml declares them (`--wrangler` only): without the
//! single-use store (`REPLAY_GUARD`, class `ReplayGuard`) the worker refuses every sign-in (503
//! `replay_store_unavailable`); without the revocation log (`REVOCATION_LOG`, class `RevocationLog`) it refuses
//! every session (the revocations cannot be known). Both need SQLite storage. A KV namespace `REVOCATIONS` (the
//! revocation store of earlier versions) is no longer read: a warning says what to do.

use toml::{Table, Value};

use crate::options::Options;
use crate::report::Report;

/// One Durable Object the worker needs: its binding, its class, what the worker does without it, and the
/// report's label.
pub struct DurableObject {
    pub binding: &'static str,
    pub class: &'static str,
    pub without: &'static str,
    label: &'static str,
}

pub const REPLAY_GUARD: DurableObject = DurableObject {
    binding: "REPLAY_GUARD",
    class: "ReplayGuard",
    without: "every sign-in would be refused (503 replay_store_unavailable)",
    label: "replay:     ",
};

pub const REVOCATION_LOG: DurableObject = DurableObject {
    binding: "REVOCATION_LOG",
    class: "RevocationLog",
    without: "every session would be refused (the revocations cannot be read)",
    label: "revocations:",
};

/// The KV namespace of the revocation store before issue 13.
const OLD_KV_BINDING: &str = "REVOCATIONS";

pub fn check_durable_objects(report: &mut Report, options: &Options) {
    let Some(path) = &options.wrangler else { return };
    let Ok(Ok(table)) = std::fs::read_to_string(path).map(|t| toml::from_str::<Table>(&t)) else { return };
    for object in [REPLAY_GUARD, REVOCATION_LOG] {
        match durable_object_problem(&table, options.env.as_deref(), &object) {
            None => report
                .line(0, format!("{} {} → Durable Object {} (SQLite)", object.label, object.binding, object.class)),
            Some(why) => report.config_error(0, format!("{path}: {why}: {}", object.without)),
        }
    }
    if binds_old_kv(&table, options.env.as_deref()) {
        report.warning(
            0,
            None,
            "kv_namespaces",
            format!(
                "the KV namespace {OLD_KV_BINDING} is no longer read: revocations live in the Durable Object \
                 {} (see the README, \"Upgrading from the KV revocation store\")",
                REVOCATION_LOG.binding
            ),
        );
    }
}

/// The table `[env.NAME]` with `env`, else the top level (bindings are not inherited by environments).
fn scope<'a>(table: &'a Table, env: Option<&str>) -> Option<&'a Table> {
    match env {
        Some(env) => table.get("env").and_then(|e| e.get(env)).and_then(Value::as_table),
        None => Some(table),
    }
}

fn binds_old_kv(table: &Table, env: Option<&str>) -> bool {
    let namespaces = scope(table, env).and_then(|s| s.get("kv_namespaces")).and_then(Value::as_array);
    namespaces.into_iter().flatten().any(|n| n.get("binding").and_then(Value::as_str) == Some(OLD_KV_BINDING))
}

/// What is wrong with the binding and its migration, if anything. Durable Object bindings are not inherited by
/// `[env.NAME]`: with `env`, its own `durable_objects` is read (and its own `migrations`, if it has any).
pub fn durable_object_problem(table: &Table, env: Option<&str>, object: &DurableObject) -> Option<String> {
    let (binding_name, class) = (object.binding, object.class);
    let scope = scope(table, env);
    let section =
        env.map_or("[[durable_objects.bindings]]".to_string(), |e| format!("[[env.{e}.durable_objects.bindings]]"));
    let bindings =
        scope.and_then(|s| s.get("durable_objects")).and_then(|d| d.get("bindings")).and_then(Value::as_array);
    let Some(binding) =
        bindings.into_iter().flatten().find(|b| b.get("name").and_then(Value::as_str) == Some(binding_name))
    else {
        return Some(format!(
            "no Durable Object binding {binding_name} ({section} name = \"{binding_name}\", class_name = \"{class}\")"
        ));
    };
    if binding.get("class_name").and_then(Value::as_str) != Some(class) {
        return Some(format!("the binding {binding_name} must name class_name = \"{class}\""));
    }
    if binding.get("script_name").is_some() {
        return None; // the class lives in another worker, which carries its migration
    }
    // An environment may carry its own migrations; otherwise the top-level ones apply.
    let migrations =
        scope.and_then(|s| s.get("migrations")).or_else(|| table.get("migrations")).and_then(Value::as_array);
    let lists = |key: &str| {
        migrations
            .into_iter()
            .flatten()
            .any(|m| m.get(key).and_then(Value::as_array).is_some_and(|c| c.iter().any(|c| c.as_str() == Some(class))))
    };
    if lists("new_sqlite_classes") {
        None
    } else if lists("new_classes") {
        Some(format!(
            "{class} is created with new_classes (key-value storage): it needs SQLite storage (new_sqlite_classes)"
        ))
    } else {
        Some(format!("no [[migrations]] entry creates {class} (new_sqlite_classes = [\"{class}\"])"))
    }
}
