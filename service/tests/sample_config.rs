//! The sample `licet.yaml` at the top of the repository loads and documents every key.

use licet::config::Config;

#[test]
fn sample_configuration_loads_and_names_every_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("licet.yaml");
    let config = Config::load_from(Some(&path), Vec::new()).unwrap();
    assert_eq!(config.server.bind, "127.0.0.1:8080");
    assert_eq!(
        config.policies.dir.as_deref(),
        Some(std::path::Path::new("policies"))
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let defaults = serde_yaml::to_value(Config::default()).unwrap();
    for (section, keys) in defaults.as_mapping().unwrap() {
        let section = section.as_str().unwrap();
        assert!(
            text.contains(&format!("\n{section}:\n")),
            "section `{section}` is not documented"
        );
        for key in keys.as_mapping().unwrap().keys() {
            let key = key.as_str().unwrap();
            assert!(
                text.contains(&format!("  {key}:")) || text.contains(&format!("  # {key}:")),
                "`{section}.{key}` is not documented"
            );
        }
    }
}
