//! The one redactor of store locations: every store URL mosx prints (errors, messages, the
//! `argv` a run records) goes through [`redact_url`] or [`redact_arg`].
//!
//! Invariants:
//! - the user info's password is replaced by `***` whatever characters it holds (`/ @ # % : ?`
//!   included, raw or percent-encoded): the user info ends at the *last* `@` of the location,
//!   so a password holding `@` or `/` never leaks as "host" or "path"; a "user" holding
//!   `/ ? # = &` (an `@` in a query value made the URL's middle look like user info) is
//!   replaced too: redaction may hide more than the secret, never less;
//! - the values of the query parameters `password`, `sslpassword` and `passfile` (any case)
//!   are replaced by `***`;
//! - a location that is not a URL (a SQLite path) is returned unchanged.

/// Query parameters whose values are secrets (or name a file of secrets).
const SECRET_PARAMS: &[&str] = &["password", "sslpassword", "passfile"];

/// A URL cut into what redaction needs.
struct Parts<'a> {
    /// `scheme://`.
    scheme: &'a str,
    /// The user info's user (before its first `:`), when there is user info.
    user: Option<&'a str>,
    /// The user info's password (after the user's `:`).
    password: Option<&'a str>,
    /// Host, port, path (everything after the user info up to the query).
    host_path: &'a str,
    /// The query (without `?`), if any, and the fragment (with `#`).
    query: Option<&'a str>,
    fragment: &'a str,
}

fn parts(url: &str) -> Option<Parts<'_>> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let (user, password, after) = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((u, p)) => (Some(u), Some(p), &rest[at + 1..]),
                None => (Some(userinfo), None, &rest[at + 1..]),
            }
        }
        None => (None, None, rest),
    };
    let (before_fragment, fragment) = match after.find('#') {
        Some(h) => (&after[..h], &after[h..]),
        None => (after, ""),
    };
    let (host_path, query) = match before_fragment.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (before_fragment, None),
    };
    Some(Parts {
        scheme: &url[..scheme_end],
        user,
        password,
        host_path,
        query,
        fragment,
    })
}

fn is_secret_param(key: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s))
}

/// `scheme://user:secret@host/db?password=secret&x=1` → `scheme://user:***@host/db?password=***&x=1`.
pub fn redact_url(url: &str) -> String {
    let Some(p) = parts(url) else {
        return url.to_string();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(p.scheme);
    if let Some(user) = p.user {
        // An `@` after a path or query (`?user=me@corp`) makes "user info" of the URL's
        // middle: shown only when it cannot be anything but a user name.
        if user.contains(['/', '?', '#', '=', '&']) {
            out.push_str("***");
        } else {
            out.push_str(user);
        }
        if p.password.is_some() {
            out.push_str(":***");
        }
        out.push('@');
    }
    out.push_str(p.host_path);
    if let Some(query) = p.query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out.push_str(p.fragment);
    out
}

/// One command-line argument with any PostgreSQL URL in it redacted (`--store=postgres://…`,
/// or the URL alone), for the `argv` a run records.
pub fn redact_arg(arg: &str) -> String {
    let lower = arg.to_ascii_lowercase();
    match ["postgres://", "postgresql://"]
        .iter()
        .filter_map(|s| lower.find(s))
        .min()
    {
        Some(at) => format!("{}{}", &arg[..at], redact_url(&arg[at..])),
        None => arg.to_string(),
    }
}

/// The secrets of `url` as written (user-info password, secret parameter values), raw and
/// percent-decoded: what is scrubbed from driver messages.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = parts(url) {
        out.extend(p.password.map(str::to_string));
        for kv in p.query.unwrap_or("").split('&') {
            if let Some((k, v)) = kv.split_once('=') {
                if is_secret_param(k) {
                    out.push(v.to_string());
                }
            }
        }
    }
    let decoded: Vec<String> = out.iter().map(|s| percent_decode(s)).collect();
    out.extend(decoded);
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://mosx:s3cr@t@db.example:5432/results?sslmode=disable"),
            "postgres://mosx:***@db.example:5432/results?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://db/results?user=a&password=pw&options=-c%20x%3Dy"),
            "postgresql://db/results?user=a&password=***&options=-c%20x%3Dy"
        );
        assert_eq!(
            redact_url("postgres://mosx@localhost/r"),
            "postgres://mosx@localhost/r"
        );
        assert_eq!(redact_url("postgres:///r"), "postgres:///r");
        assert_eq!(redact_url("results/mosx.db"), "results/mosx.db");
    }

    #[test]
    fn a_password_with_any_character_is_redacted() {
        for pw in [
            "ab/cdSECRET",
            "a@b/SECRET",
            "SECRET#x",
            "SE%2FCRET",
            "a:b:SECRET",
            "SE?CRET",
            "/@#%:?SECRET",
        ] {
            let url = format!("postgres://u:{pw}@127.0.0.1:5499/db?sslmode=disable");
            let r = redact_url(&url);
            assert!(!r.contains("SECRET") && !r.contains("CRET"), "{url} -> {r}");
            assert!(r.starts_with("postgres://u:***@"), "{url} -> {r}");
            assert!(
                r.ends_with("127.0.0.1:5499/db?sslmode=disable"),
                "{url} -> {r}"
            );
        }
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        let r = redact_url(
            "postgres://h/db?Password=SECRET1&sslpassword=SECRET2&passfile=/home/SECRET3&x=1#f",
        );
        assert_eq!(
            r,
            "postgres://h/db?Password=***&sslpassword=***&passfile=***&x=1#f"
        );
    }

    #[test]
    fn arguments_holding_a_url_are_redacted() {
        assert_eq!(
            redact_arg("--store=postgres://u:SECRET@h/db"),
            "--store=postgres://u:***@h/db"
        );
        assert_eq!(
            redact_arg("PostgreSQL://u:SECRET@h/db"),
            "PostgreSQL://u:***@h/db"
        );
        assert_eq!(redact_arg("results/mosx.db"), "results/mosx.db");
    }

    #[test]
    fn an_at_sign_in_the_query_hides_more_never_less() {
        let r = redact_url("postgres://h/db?password=SECRET&user=me@corp");
        assert!(!r.contains("SECRET"), "{r}");
        let r = redact_url("postgres://h/db?password=SE:CRET@corp");
        assert!(!r.contains("SE"), "{r}");
    }

    #[test]
    fn secrets_are_found_raw_and_decoded() {
        assert_eq!(
            url_secrets("postgres://u:p%40ss@h/db?password=x"),
            vec!["p%40ss".to_string(), "p@ss".into(), "x".into()]
        );
        assert!(url_secrets("postgres://u@h/db").is_empty());
        assert_eq!(
            url_secrets("postgres://u:a/b@c@h/db"),
            vec!["a/b@c".to_string()]
        );
    }
}
