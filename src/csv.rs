//! CSV as RFC 4180 writes it, for the downloads of the REST API and the console (an initial
//! sync's rows, the audit trail): fields with a comma, quote or line break are quoted, quotes
//! doubled, lines end in CRLF. A field a spreadsheet would take for a formula (`=`, `+`, `-`,
//! `@`) is prefixed with `'` (CSV injection).

/// One field.
pub fn field(v: Option<&str>) -> String {
    let v = v.unwrap_or("");
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// A header line and one line per row.
pub fn table<'a>(header: &[&str], rows: impl Iterator<Item = Vec<Option<&'a str>>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let line: Vec<String> = row.into_iter().map(field).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        assert_eq!(field(Some("a,b")), "\"a,b\"");
        assert_eq!(field(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(field(Some("=1+1")), "'=1+1");
        assert_eq!(field(Some("-2")), "'-2");
        assert_eq!(field(None), "");
        assert_eq!(
            table(&["a", "b"], vec![vec![Some("x"), None]].into_iter()),
            "a,b\r\nx,\r\n"
        );
    }
}
