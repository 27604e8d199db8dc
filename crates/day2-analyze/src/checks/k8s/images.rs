//! Images: mutable and moving tags, digest pinning, pull policies, registry provenance (allow-list, implicit Docker
//! Hub, IP-addressed registries) and the frozen k8s.gcr.io registry.

use super::{patch, per_container};
use crate::checks::prelude::*;

/// Tags that name a branch or a channel rather than a release: they move like `latest`.
const MOVING_TAGS: &[&str] = &[
    "main", "master", "develop", "dev", "nightly", "edge", "stable", "snapshot", "canary", "head", "trunk", "current",
    "lts",
];

const SUPPLY_CHAIN: &[(day2_model::Framework, &str)] =
    &[(CisK8s, "5.5.1"), (Nsa, "image-security"), (Soc2, "CC8.1"), (Nis2, "21(2)(d)"), (Dora, "Art.9(4)(c)")];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-IMG-001",
        title: "Image uses the latest tag or no tag",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "`latest` (or no tag, which means latest) points to whatever was pushed last: two pods of the same ReplicaSet can run different code, rollbacks do not roll back, and nobody can tell which version is deployed.",
        remediation: "Reference an immutable release tag (`shop/cart:2.3.1`), ideally with its digest (`@sha256:…`).",
        controls: &[(Nsa, "image-security"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-names"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let r = ImageRef::parse(image);
                if r.digest.is_some() || r.tag.is_some_and(|t| t != "latest") {
                    return None;
                }
                let what = if r.tag.is_some() { "the `latest` tag" } else { "no tag (implicitly `latest`)" };
                Some(Hit::new(format!("container `{}` runs image `{image}` with {what}", c.name())).evidence(
                    format!("{}/image", c.pointer()),
                    json!(image),
                    None,
                ))
            })
        },
    },
    Check {
        id: "K8S-IMG-002",
        title: "Image is not pinned by digest",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Tags are mutable: whoever can push to the repository can replace `2.3.1` with different content, and nodes pull it on the next restart. A digest names exactly one image and makes the deployment reproducible and verifiable.",
        remediation: "Append the digest to the reference (`registry.example.com/shop/cart:2.3.1@sha256:…`), e.g. with your CI or an admission controller that resolves tags.",
        controls: SUPPLY_CHAIN,
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-names"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let r = ImageRef::parse(image);
                // Untagged and `latest` images are K8S-IMG-001's.
                if r.digest.is_some() || r.tag.is_none_or(|t| t == "latest") {
                    return None;
                }
                Some(Hit::new(format!("container `{}` runs image `{image}` without a digest", c.name())).evidence(
                    format!("{}/image", c.pointer()),
                    json!(image),
                    None,
                ))
            })
        },
    },
    Check {
        id: "K8S-IMG-003",
        title: "Mutable image tag pulled only if not present",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "With `latest` or no tag and imagePullPolicy IfNotPresent, each node keeps whichever `latest` it pulled first: pods of one Deployment silently run different images depending on the node they land on.",
        remediation: "Pin an immutable tag or digest; until then, set `imagePullPolicy: Always` so every start resolves the tag.",
        controls: &[(Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-pull-policy"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let policy = c.value.get("imagePullPolicy")?.as_str()?;
                let r = ImageRef::parse(image);
                if policy != "IfNotPresent" || r.digest.is_some() || r.tag.is_some_and(|t| t != "latest") {
                    return None;
                }
                let ptr = c.pointer();
                Some(
                    Hit::new(format!("container `{}` pulls mutable image `{image}` only if not present", c.name()))
                        .evidence(format!("{ptr}/imagePullPolicy"), json!(policy), Some(json!("Always")))
                        .fix(
                            "Set imagePullPolicy to Always",
                            patch(
                                json!({"op": "replace", "path": format!("{ptr}/imagePullPolicy"), "value": "Always"}),
                            ),
                        ),
                )
            })
        },
    },
    Check {
        id: "K8S-IMG-004",
        title: "Image comes from an unapproved or implicit registry",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Images should come from registries the organisation controls or trusts. With `checks.params.allowed_registries` set, anything else is flagged; without it, images that name no registry are flagged, because they silently resolve to Docker Hub, which is rate-limited and open to typo-squatting.",
        remediation: "Pull from an approved registry (mirror public images into it) and write the registry host explicitly (`docker.io/library/nginx:1.27` at the very least).",
        controls: SUPPLY_CHAIN,
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-names"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let r = ImageRef::parse(image);
                let allowed = &i.params.allowed_registries;
                let message = if allowed.is_empty() {
                    r.registry.is_none().then(|| {
                        format!(
                            "container `{}` runs image `{image}`, which names no registry (implicitly docker.io)",
                            c.name()
                        )
                    })?
                } else {
                    let ok = allowed.iter().any(|a| {
                        let a = a.trim_end_matches('/');
                        r.registry_or_default().eq_ignore_ascii_case(a) || r.qualified().starts_with(&format!("{a}/"))
                    });
                    (!ok).then(|| {
                        format!(
                            "container `{}` runs image `{image}` from registry {}, which is not in allowed_registries",
                            c.name(),
                            r.registry_or_default()
                        )
                    })?
                };
                Some(Hit::new(message).evidence(format!("{}/image", c.pointer()), json!(image), None))
            })
        },
    },
    Check {
        id: "K8S-IMG-005",
        title: "Container uses imagePullPolicy Never",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "With imagePullPolicy Never the pod only starts on nodes that already have the image; on new or replaced nodes it fails with ErrImageNeverPull, so autoscaling and node rotation break the workload.",
        remediation: "Remove `imagePullPolicy: Never` (the default pulls when needed) and publish the image to a registry the nodes can reach.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-pull-policy"],
        eval: |i| {
            per_container(i, |c, _| {
                let policy = c.value.get("imagePullPolicy")?;
                (policy.as_str() == Some("Never")).then(|| {
                    let ptr = c.pointer();
                    Hit::new(format!("container `{}` never pulls its image", c.name()))
                        .evidence(format!("{ptr}/imagePullPolicy"), policy.clone(), None)
                        .fix(
                            "Remove imagePullPolicy (pull when needed)",
                            patch(json!({"op": "remove", "path": format!("{ptr}/imagePullPolicy")})),
                        )
                })
            })
        },
    },
    Check {
        id: "K8S-IMG-006",
        title: "Image pulled from a registry addressed by IP or localhost",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Registries addressed by IP address or localhost cannot present a certificate for a name, so nodes are usually configured to pull from them insecurely; anyone on the path can substitute images, and the address breaks when the host moves.",
        remediation: "Serve the registry under a DNS name with a trusted TLS certificate and reference images by that name.",
        controls: SUPPLY_CHAIN,
        references: &["https://kubernetes.io/docs/concepts/containers/images/"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let host = ImageRef::parse(image).registry?;
                let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
                let by_ip = name.parse::<std::net::IpAddr>().is_ok()
                    || name.trim_matches(['[', ']']).parse::<std::net::Ipv6Addr>().is_ok();
                (by_ip || name.eq_ignore_ascii_case("localhost")).then(|| {
                    Hit::new(format!("container `{}` pulls `{image}` from registry {host}", c.name())).evidence(
                        format!("{}/image", c.pointer()),
                        json!(image),
                        None,
                    )
                })
            })
        },
    },
    Check {
        id: "K8S-IMG-007",
        title: "Image pulled from the frozen k8s.gcr.io registry",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "k8s.gcr.io was frozen in April 2023 and redirects to registry.k8s.io: it receives no new images or patch releases, so workloads referencing it cannot get security fixes and may break when the redirect ends.",
        remediation: "Replace the `k8s.gcr.io/` prefix with `registry.k8s.io/` (same image paths and tags).",
        controls: &[(Nsa, "upgrading"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &["https://kubernetes.io/blog/2023/02/06/k8s-gcr-io-freeze-announcement/"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let rest = image.strip_prefix("k8s.gcr.io/")?;
                let ptr = c.pointer();
                Some(Hit::new(format!("container `{}` pulls `{image}` from k8s.gcr.io", c.name()))
                .evidence(format!("{ptr}/image"), json!(image), Some(json!(format!("registry.k8s.io/{rest}"))))
                .fix("Pull from registry.k8s.io instead", patch(json!({"op": "replace", "path": format!("{ptr}/image"), "value": format!("registry.k8s.io/{rest}")}))))
            })
        },
    },
    Check {
        id: "K8S-IMG-008",
        title: "Image uses a branch or channel tag",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Tags like `main`, `stable`, `nightly` or `edge` are moved on every build, exactly like `latest`: restarts pull untested code and the running version cannot be traced back to a release.",
        remediation: "Reference a release tag or a commit-specific tag (`shop/cart:2.3.1`, `shop/cart:git-4f2a9c1`), ideally with its digest.",
        controls: &[(Nsa, "image-security"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &["https://kubernetes.io/docs/concepts/containers/images/#image-names"],
        eval: |i| {
            per_container(i, |c, _| {
                let image = c.value.get("image")?.as_str()?;
                let r = ImageRef::parse(image);
                let tag = r.tag?;
                let lower = tag.to_ascii_lowercase();
                let moving = MOVING_TAGS.contains(&lower.as_str())
                    || lower.ends_with("-snapshot")
                    || lower.ends_with("-nightly");
                (r.digest.is_none() && moving).then(|| {
                    Hit::new(format!("container `{}` runs image `{image}` with moving tag `{tag}`", c.name())).evidence(
                        format!("{}/image", c.pointer()),
                        json!(image),
                        None,
                    )
                })
            })
        },
    },
];

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, PartialEq)]
pub(crate) struct ImageRef<'a> {
    /// Registry host (with port), when the reference names one.
    pub registry: Option<&'a str>,
    /// Repository path without registry, tag or digest.
    pub repository: &'a str,
    /// Tag, when given.
    pub tag: Option<&'a str>,
    /// Digest (`sha256:…`), when given.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Parses a reference the way container runtimes do: the first path segment is a registry when it contains a `.`
    /// or a `:` or is `localhost`.
    pub(crate) fn parse(image: &'a str) -> Self {
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (Some(first), rest)
            }
            _ => (None, name),
        };
        let last_slash = path.rfind('/').map_or(0, |p| p + 1);
        let (repository, tag) = match path.get(last_slash..).and_then(|last| last.rfind(':')) {
            Some(colon) => (path.get(..last_slash + colon).unwrap_or(path), path.get(last_slash + colon + 1..)),
            None => (path, None),
        };
        ImageRef { registry, repository, tag: tag.filter(|t| !t.is_empty()), digest }
    }

    /// The registry host, `docker.io` when the reference names none.
    pub(crate) fn registry_or_default(&self) -> &'a str {
        self.registry.unwrap_or("docker.io")
    }

    /// `registry/repository` with the implicit Docker Hub names filled in (`docker.io/library/nginx`).
    pub(crate) fn qualified(&self) -> String {
        match self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None if !self.repository.contains('/') => format!("docker.io/library/{}", self.repository),
            None => format!("docker.io/{}", self.repository),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn image_references_parse_like_runtimes() {
        let r = ImageRef::parse("nginx");
        assert_eq!((r.registry, r.repository, r.tag, r.digest), (None, "nginx", None, None));
        assert_eq!(r.qualified(), "docker.io/library/nginx");
        let r = ImageRef::parse("localhost:5000/shop/cart:2.3.1@sha256:abc");
        assert_eq!(
            (r.registry, r.repository, r.tag, r.digest),
            (Some("localhost:5000"), "shop/cart", Some("2.3.1"), Some("sha256:abc"))
        );
        let r = ImageRef::parse("registry.example.com:443/cart");
        assert_eq!((r.registry, r.repository, r.tag), (Some("registry.example.com:443"), "cart", None));
        let r = ImageRef::parse("bitnami/kafka:3.7.0");
        assert_eq!((r.registry, r.repository, r.tag), (None, "bitnami/kafka", Some("3.7.0")));
        assert_eq!(r.qualified(), "docker.io/bitnami/kafka");
    }

    #[test]
    fn allowed_registries_are_enforced_when_configured() {
        use day2_model::{Inventory, Origin, Provider, ResourceId};
        let attrs = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "ok", "image": "registry.example.com/shop/cart:1.0"},
            {"name": "org", "image": "ghcr.io/acme/tool:1.0"},
            {"name": "hub", "image": "docker.io/library/nginx:1.27"},
            {"name": "bad", "image": "quay.io/other/tool:1.0"}]}});
        let resource = Resource {
            id: ResourceId::new(Provider::K8s, "c", "Pod", "shop", "p"),
            provider: Provider::K8s,
            scope: "c".into(),
            kind: "Pod".into(),
            api_version: "v1".into(),
            namespace: "shop".into(),
            name: "p".into(),
            labels: Default::default(),
            owner: Default::default(),
            attrs: attrs.into(),
            origin: Origin::Declared {
                file: "f".into(),
                line: 1,
                template: None,
                module: None,
                attributes: Default::default(),
            },
            source: "s".into(),
        };
        let inventory = Inventory::default();
        let params = crate::checks::Params {
            allowed_registries: vec!["registry.example.com".into(), "ghcr.io/acme".into(), "docker.io".into()],
            ..Default::default()
        };
        let check = crate::checks::find("K8S-IMG-004").map(|c| c.eval);
        let hits = check
            .map(|eval| eval(&Input { resource: &resource, inventory: &inventory, params: &params }))
            .unwrap_or_default();
        let subjects: Vec<&str> = hits.iter().map(|h| h.subject.as_str()).collect();
        assert_eq!(subjects, ["container bad"]);
    }
}
