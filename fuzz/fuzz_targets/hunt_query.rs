#![no_main]
//! Fuzz the hunt language's parser: any text must parse or be refused with an error inside the text,
//! never panic; what parses prints to a text that parses back to the same tree.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match secops_hunt_lang::parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            let again = secops_hunt_lang::parse(&printed).expect("a printed query parses");
            assert_eq!(again, query);
        }
        Err(e) => {
            assert!(e.span.start <= text.len());
            let _ = e.describe(text);
        }
    }
});
