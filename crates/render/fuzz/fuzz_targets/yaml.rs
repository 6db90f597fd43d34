//! Fuzz target `yaml`: arbitrary bytes go through `parse_documents`, which must return (a value
//! or an error) without panicking; every document read is printed with `to_yaml`, and the printed
//! text must read back to the same value.

#![no_main]

use capstan_render::yaml::{parse_value, to_yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = capstan_render::yaml::parse_documents(text, "fuzz.yaml") else {
        return;
    };
    for document in &documents {
        let printed = to_yaml(document);
        match parse_value(&printed, "printed.yaml") {
            Ok(reread) => assert!(
                reread == *document,
                "printing does not round-trip\ninput: {text:?}\nvalue: {document}\nprinted:\n{printed}\nreread: {reread}"
            ),
            Err(error) => panic!(
                "printed text does not parse: {error}\nvalue: {document}\nprinted:\n{printed}"
            ),
        }
    }
});
