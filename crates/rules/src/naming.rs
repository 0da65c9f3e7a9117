//! How rules are named: ids are lowercase UUIDs, files and tactic folders snake_case of their names.

/// `Credential Access` -> `credential_access`: file names and their tactic prefixes.
pub fn snake_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hexadecimal.
pub fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_snake_case_and_ids_lowercase_uuids() {
        assert_eq!(snake_case("Command and Control"), "command_and_control");
        assert!(is_uuid("5b8f3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e6f"));
        assert!(!is_uuid("5B8F3C1E-2d4a-4f6b-9c7e-1a2b3c4d5e6f"));
        assert!(!is_uuid("5b8f3c1e-2d4a-4f6b-9c7e"));
    }
}
