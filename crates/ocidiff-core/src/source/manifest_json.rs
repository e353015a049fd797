//! The `manifest.json` of a `docker save` archive: the one place it is read, through
//! [`gojson`] against the schema of Docker's `manifestItem`, so that a document Go's
//! `encoding/json` would read differently (a repeated or case-folded `Config`) is refused
//! rather than read one way.

use serde::Deserialize;

use crate::model::{GoJsonError, gojson};

/// One image of `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SavedImage {
    pub config: String,
    /// Empty when `null` or absent.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub repo_tags: Vec<String>,
    /// Empty when `null` or absent, as Go decodes it.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub layers: Vec<String>,
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
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

/// The images `manifest.json` lists, in order.
pub fn parse(bytes: &[u8]) -> Result<Vec<SavedImage>, GoJsonError> {
    gojson::from_slice(bytes, &gojson::DOCKER_SAVE_MANIFEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_lists_are_empty_as_go_reads_them() {
        let all = parse(br#"[{"Config":"c.json","RepoTags":null,"Layers":null}]"#).unwrap();
        assert_eq!(
            all,
            [SavedImage {
                config: "c.json".into(),
                ..SavedImage::default()
            }]
        );
        assert_eq!(all[0].label(), "<untagged c.json>");
    }

    #[test]
    fn documents_go_reads_ambiguously_are_refused() {
        for json in [
            r#"[{"Config":"a.json","config":"b.json","Layers":[]}]"#,
            r#"[{"config":"a.json","Layers":[]}]"#,
            r#"[{"Config":"a.json","Config":"b.json","Layers":[]}]"#,
            r#"[{"Config":1,"Layers":[]}]"#,
            r#"[{"Config":"a.json","Layers":[]}] trailing"#,
            "null",
        ] {
            assert!(parse(json.as_bytes()).is_err(), "{json}");
        }
    }
}
