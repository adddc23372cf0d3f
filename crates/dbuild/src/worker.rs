//! `dbuild worker`: the flags turned into a bot (see the dbuild-worker crate).

use std::time::Duration;

use anyhow::Result;

use crate::cli::{GlobalArgs, WorkerArgs};

pub fn run(global: &GlobalArgs, args: &WorkerArgs) -> Result<()> {
    let cache_dir = match &args.cache_dir {
        Some(d) => d.clone(),
        None => crate::settings::cache_dir(global.cache_dir.clone())?.join("worker"),
    };
    let bot_id = args.bot_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("dbuild-{}-{}", host.trim(), std::process::id())
    });
    let opts = dbuild_worker::WorkerOptions {
        url: args.bots.clone(),
        instance_name: global.remote.remote_instance_name.clone().unwrap_or_default(),
        cache_dir,
        bot_id,
        timeout: Duration::from_secs(global.remote.remote_timeout.max(1)),
    };
    Ok(dbuild_worker::serve(&opts)?)
}
