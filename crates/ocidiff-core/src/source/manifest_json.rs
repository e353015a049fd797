//! The `manifest.json` of a `docker save` archive, read as Docker and containerd read it: with
//! Go's `encoding/json` into a struct. Go matches keys to fields without regard to case
//! (`config` is `Config`, and so is `CONFIG`), lets the last of several keys for one field win,
//! leaves a string field as it was on `null`, and decodes only the first JSON value of the file
//! (`json.Decoder.Decode`), ignoring what follows. A reader that took the first `Config` of
//! `{"Config": "a.json", "config": "b.json"}` would compare another image than Docker loads.

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

/// One image of `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedImage {
    pub config: String,
    /// Empty when `null` or absent.
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

impl SavedImage {
    /// How errors name it: its tags, or its config.
    pub fn label(&self) -> String {
        if self.repo_tags.is_empty() {
            format!("<untagged {}>", self.config)
        } else {
            self.repo_tags.join(", ")
        }
    }
}

/// Whether Go's `encoding/json` matches `key` to the field `field`: equal under Unicode simple
/// case folding, which for these ASCII names is ASCII case plus `ſ` (U+017F) as `s` and the
/// Kelvin sign (U+212A) as `k`.
fn go_field_eq(key: &str, field: &str) -> bool {
    let fold = |c: char| match c {
        '\u{17f}' => 'S',
        '\u{212a}' => 'K',
        c => c.to_ascii_uppercase(),
    };
    key.chars().map(fold).eq(field.chars().map(fold))
}

/// A JSON array of strings as Go decodes it into `[]string`: `null` is an empty slice, and a
/// `null` element the empty string.
fn strings(value: Option<Vec<Option<String>>>) -> Vec<String> {
    value
        .unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

impl<'de> Deserialize<'de> for SavedImage {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<SavedImage, D::Error> {
        struct Item;
        impl<'de> Visitor<'de> for Item {
            type Value = SavedImage;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with Config, RepoTags and Layers")
            }

            /// `null` leaves Go's struct as it was: empty.
            fn visit_unit<E: de::Error>(self) -> Result<SavedImage, E> {
                Ok(SavedImage::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SavedImage, A::Error> {
                let mut item = SavedImage::default();
                while let Some(key) = map.next_key::<String>()? {
                    if go_field_eq(&key, "Config") {
                        if let Some(config) = map.next_value::<Option<String>>()? {
                            item.config = config;
                        }
                    } else if go_field_eq(&key, "RepoTags") {
                        item.repo_tags = strings(map.next_value()?);
                    } else if go_field_eq(&key, "Layers") {
                        item.layers = strings(map.next_value()?);
                    } else if go_field_eq(&key, "Parent") {
                        // Docker's field is a string: another type fails its load.
                        map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_any(Item)
    }
}

/// The images `manifest.json` lists, in order, or why Docker could not read it.
pub fn parse(bytes: &[u8]) -> Result<Vec<SavedImage>, String> {
    let first = serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Option<Vec<SavedImage>>>()
        .next();
    match first {
        None => Err("it is empty".into()),
        Some(Err(e)) => Err(e.to_string()),
        // Docker 20.10 loads nothing from `null`, Docker ≥ 25 refuses it.
        Some(Ok(None)) => Err("it is null".into()),
        Some(Ok(Some(images))) => Ok(images),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> SavedImage {
        let mut all = parse(json.as_bytes()).unwrap();
        assert_eq!(all.len(), 1, "{json}");
        all.remove(0)
    }

    #[test]
    fn keys_match_fields_as_go_matches_them() {
        let item = one(r#"[{"config":"c.json","REPOTAGS":["x:1"],"layerſ":["l/layer.tar"]}]"#);
        assert_eq!(
            item,
            SavedImage {
                config: "c.json".into(),
                repo_tags: vec!["x:1".into()],
                layers: vec!["l/layer.tar".into()],
            }
        );
        // The last key for a field wins, whatever its case.
        let item = one(
            r#"[{"Config":"a.json","Layers":["a"],"config":"b.json","layers":["b"],"Configs":"x"}]"#,
        );
        assert_eq!((&item.config[..], &item.layers[..]), ("b.json", &["b".to_owned()][..]));
        // `null` leaves a string as it was and empties a list.
        let item = one(r#"[{"Config":"a.json","config":null,"Layers":["a"],"layers":null}]"#);
        assert_eq!((&item.config[..], item.layers.len()), ("a.json", 0));
        assert_eq!(one(r#"[{"RepoTags":null,"Layers":[null]}]"#).layers, [""]);
        assert_eq!(one("[null]"), SavedImage::default());
    }

    #[test]
    fn only_the_first_value_is_read() {
        assert_eq!(one(r#"[{"Config":"a"}] garbage }{"#).config, "a");
        assert_eq!(one(r#"[{"Config":"a"}][{"Config":"b"}]"#).config, "a");
    }

    #[test]
    fn what_docker_cannot_read_is_an_error() {
        for json in [
            "",
            "  ",
            "null",
            "{}",
            r#"[{"Config": 1}]"#,
            r#"[{"Layers": "a"}]"#,
            r#"[{"Parent": []}]"#,
            "[{",
        ] {
            assert!(parse(json.as_bytes()).is_err(), "{json}");
        }
    }
}
