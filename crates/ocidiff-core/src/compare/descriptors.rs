//! Comparing two descriptors: what they say about the blob they point to.

use serde_json::{Value, json};

use super::{Walk, classify};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::model::{Descriptor, media};
use crate::normalize::Aspect;

impl Walk<'_> {
    pub(super) fn descriptors(
        &self,
        location: &str,
        l: &Descriptor,
        r: &Descriptor,
    ) -> Vec<Finding> {
        let rules = self.rules();
        let mut fields = Vec::new();
        let mut cmp =
            |field: &str, lv: Option<Value>, rv: Option<Value>, class: Class, ignored: bool| {
                if lv != rv {
                    let d = FieldDiff::new(field, lv, rv, class);
                    fields.push(if ignored { d.set_aside() } else { d });
                }
            };
        let same_kind = media::canonical(&l.media_type) == media::canonical(&r.media_type);
        cmp(
            "mediaType",
            Some(json!(l.media_type)),
            Some(json!(r.media_type)),
            if same_kind {
                Class::StorageFormat
            } else {
                Class::Other
            },
            same_kind && rules.sets_aside(Aspect::StorageFormat),
        );
        cmp(
            "digest",
            Some(json!(l.digest)),
            Some(json!(r.digest)),
            Class::Derived,
            rules.sets_aside(Aspect::Derived),
        );
        cmp(
            "size",
            Some(json!(l.size)),
            Some(json!(r.size)),
            Class::Derived,
            rules.sets_aside(Aspect::Derived),
        );
        let keys = l.annotations.keys().chain(
            r.annotations
                .keys()
                .filter(|k| !l.annotations.contains_key(*k)),
        );
        for k in keys {
            let path = format!("annotations[{}]", json!(k));
            cmp(
                &path,
                l.annotations.get(k).map(|v| json!(v)),
                r.annotations.get(k).map(|v| json!(v)),
                classify::json_class(Kind::Descriptor, &format!(".{path}"), true),
                rules.ignores_annotation(k),
            );
        }
        let platform = |d: &Descriptor| d.platform.as_ref().map(|p| json!(p));
        cmp("platform", platform(l), platform(r), Class::Platform, false);
        let urls = |d: &Descriptor| (!d.urls.is_empty()).then(|| json!(d.urls));
        cmp("urls", urls(l), urls(r), Class::Other, false);
        cmp(
            "artifactType",
            l.artifact_type.as_ref().map(|v| json!(v)),
            r.artifact_type.as_ref().map(|v| json!(v)),
            Class::Other,
            false,
        );
        if fields.is_empty() {
            return vec![];
        }
        vec![classify::finding(Kind::Descriptor, location, "", fields)]
    }
}
