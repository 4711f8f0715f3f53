//! The command-line conventions every command follows (docs/architecture.md,
//! "Conventions"), checked by walking clap's command tree: a new flag or
//! command that breaks one fails these tests.

#[cfg(test)]
mod tests {
    use crate::Cli;
    use clap::{Arg, ArgAction, Command, CommandFactory};

    /// Every visible command, with its path (`scalelab corpus synth`).
    fn commands() -> Vec<(String, Command)> {
        fn walk(path: &str, c: &Command, out: &mut Vec<(String, Command)>) {
            out.push((path.to_string(), c.clone()));
            for s in c.get_subcommands() {
                if s.is_hide_set() || s.get_name() == "help" {
                    continue;
                }
                walk(&format!("{path} {}", s.get_name()), s, out);
            }
        }
        let mut root = Cli::command();
        root.build();
        let mut out = Vec::new();
        walk("scalelab", &root, &mut out);
        out
    }

    /// The commands that do the work (no subcommands of their own).
    fn leaves() -> Vec<(String, Command)> {
        commands()
            .into_iter()
            .filter(|(_, c)| !c.has_subcommands())
            .collect()
    }

    /// Visible arguments a command defines (not clap's --help/--version).
    fn args(c: &Command) -> Vec<Arg> {
        c.get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter(|a| {
                !matches!(
                    a.get_action(),
                    ArgAction::Help | ArgAction::HelpLong | ArgAction::Version
                )
            })
            .cloned()
            .collect()
    }

    fn spelling(a: &Arg) -> String {
        match (a.get_long(), a.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            _ => format!("<{}>", a.get_id()),
        }
    }

    #[test]
    fn the_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_help_has_an_example() {
        let mut missing = Vec::new();
        for (path, mut c) in commands() {
            let help = c.render_long_help().to_string();
            // an "Example:" / "Examples:" heading with a command line under it
            let has = help.lines().enumerate().any(|(i, l)| {
                let l = l.trim();
                (l == "Example:" || l == "Examples:" || l.starts_with("Example ("))
                    && help
                        .lines()
                        .skip(i + 1)
                        .take(4)
                        .any(|n| n.trim_start().starts_with("scalelab "))
            });
            if !has {
                missing.push(path);
            }
        }
        assert!(
            missing.is_empty(),
            "--help without an Examples section: {missing:?}"
        );
    }

    #[test]
    fn every_flag_has_a_description() {
        let mut missing = Vec::new();
        for (path, c) in commands() {
            for a in args(&c) {
                let described = a
                    .get_help()
                    .or(a.get_long_help())
                    .is_some_and(|h| !h.to_string().trim().is_empty());
                if !described {
                    missing.push(format!("{path} {}", spelling(&a)));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "flags without a description: {missing:?}"
        );
    }

    /// SCREAMING words; `|` between alternatives, `:` inside a pair.
    fn screaming(v: &str) -> bool {
        v.split(['|', ':']).all(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    }

    #[test]
    fn metavars_share_one_style() {
        assert!(screaming("FILE") && screaming("N:D") && screaming("NAME|FLOPS"));
        assert!(!screaming("ITEMS.jsonl") && !screaming("Dir") && !screaming(""));
        let mut bad = Vec::new();
        for (path, c) in commands() {
            for a in args(&c) {
                if !a.get_action().takes_values() {
                    continue;
                }
                let names: Vec<String> = match a.get_value_names() {
                    Some(v) => v.iter().map(|s| s.to_string()).collect(),
                    // clap's default: the id in upper case
                    None => vec![a.get_id().as_str().to_ascii_uppercase()],
                };
                for v in names {
                    if !screaming(&v) {
                        bad.push(format!("{path} {} <{v}>", spelling(&a)));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "metavars not in SCREAMING style: {bad:?}");
    }

    #[test]
    fn a_flag_has_one_metavar_everywhere() {
        // --out is FILE or DIR by command (checked below); import's
        // --*-col name tracker metrics, not table columns
        let differs = |path: &str, long: &str| {
            long == "out" || (path.starts_with("scalelab import") && long.ends_with("-col"))
        };
        let mut seen: std::collections::BTreeMap<String, (String, String)> = Default::default();
        let mut bad = Vec::new();
        for (path, c) in commands() {
            for a in args(&c) {
                let (Some(long), true) = (a.get_long(), a.get_action().takes_values()) else {
                    continue;
                };
                if differs(&path, long) {
                    continue;
                }
                let v = a
                    .get_value_names()
                    .map(|v| v.join(" "))
                    .unwrap_or_else(|| a.get_id().as_str().to_ascii_uppercase());
                match seen.get(long) {
                    Some((p, w)) if *w != v => {
                        bad.push(format!("--{long}: <{w}> in `{p}`, <{v}> in `{path}`"))
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(long.to_string(), (path.clone(), v));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn out_is_o_and_says_file_or_dir() {
        let mut bad = Vec::new();
        let mut seen = 0;
        for (path, c) in commands() {
            for a in args(&c) {
                if a.get_long() != Some("out") {
                    continue;
                }
                seen += 1;
                let v = a.get_value_names().map(|v| v.join(" ")).unwrap_or_default();
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                if a.get_short() != Some('o') {
                    bad.push(format!("{path} --out has no -o"));
                }
                if v != "FILE" && v != "DIR" {
                    bad.push(format!("{path} --out <{v}>: FILE or DIR"));
                }
                let word = if v == "DIR" { "directory" } else { "file" };
                if !help.to_lowercase().contains(word) {
                    bad.push(format!(
                        "{path} --out <{v}>: the help should say `{word}`: {help}"
                    ));
                }
            }
        }
        assert!(seen >= 10, "only {seen} --out flags found");
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn short_n_always_counts_items() {
        let mut bad = Vec::new();
        for (path, c) in commands() {
            for a in c.get_arguments() {
                let short = a.get_short() == Some('n')
                    || a.get_visible_short_aliases()
                        .is_some_and(|s| s.contains(&'n'));
                if short && a.get_long() != Some("items") {
                    bad.push(format!("{path} {}", spelling(a)));
                }
            }
        }
        assert!(
            bad.is_empty(),
            "-n must mean --items (items per task): {bad:?}"
        );
    }

    #[test]
    fn group_by_takes_a_list() {
        let mut seen = 0;
        for (path, c) in commands() {
            for a in c
                .get_arguments()
                .filter(|a| a.get_long() == Some("group-by"))
            {
                seen += 1;
                assert_eq!(
                    a.get_value_delimiter(),
                    Some(','),
                    "{path} --group-by: comma-separated"
                );
                assert!(
                    matches!(a.get_action(), ArgAction::Append),
                    "{path} --group-by: repeatable"
                );
                assert_eq!(
                    a.get_value_names().map(|v| v.join(" ")).as_deref(),
                    Some("COLUMNS"),
                    "{path}"
                );
            }
        }
        assert!(seen >= 2, "only {seen} --group-by flags found");
    }

    #[test]
    fn every_command_with_results_has_json() {
        let missing: Vec<String> = leaves()
            .into_iter()
            .filter(|(_, c)| !c.get_arguments().any(|a| a.get_long() == Some("json")))
            .map(|(p, _)| p)
            .collect();
        assert!(missing.is_empty(), "commands without --json: {missing:?}");
    }

    #[test]
    fn every_long_running_command_can_be_quiet() {
        // commands that can run for more than 2 s draw progress on stderr, and
        // take --quiet to draw none
        let long = [
            "scalelab corpus prepare",
            "scalelab corpus synth",
            "scalelab corpus stats",
            "scalelab corpus contamination",
            "scalelab corpus dedup",
            "scalelab design",
            "scalelab emerge",
            "scalelab eval",
            "scalelab fit",
            "scalelab import tensorboard",
            "scalelab import csv",
            "scalelab import lm-eval",
            "scalelab isoflop",
            "scalelab study",
            "scalelab sweep",
            "scalelab train",
        ];
        let all = leaves();
        for path in long {
            let (_, c) = all
                .iter()
                .find(|(p, _)| p == path)
                .unwrap_or_else(|| panic!("no {path}"));
            assert!(
                c.get_arguments().any(|a| a.get_long() == Some("quiet")),
                "{path} has no --quiet"
            );
        }
    }
}
