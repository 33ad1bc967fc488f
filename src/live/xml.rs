//! A small, strict XML reader for SIPREC metadata (RFC 7865): elements, attributes,
//! text, comments, CDATA and the predefined and numeric entities. Namespace prefixes
//! are dropped (clients use `<recording>` and `<rs:recording>` alike).
//!
//! Must not expand DTDs or custom entities (no entity-expansion attacks), and must not
//! recurse without bound.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML ends inside markup")]
    Eof,
    #[error("XML is malformed at byte {0}")]
    Syntax(usize),
    #[error("XML end tag does not match its start tag at byte {0}")]
    Mismatch(usize),
    #[error("XML nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("XML document type declarations are not accepted")]
    Doctype,
    #[error("XML has no root element")]
    NoRoot,
}

const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (prefix removed).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut p = Parser { s: text, i: 0 };
    p.misc()?;
    if p.i >= p.s.len() {
        return Err(XmlError::NoRoot);
    }
    let root = p.element(0)?;
    p.misc()?;
    if p.i != p.s.len() {
        return Err(XmlError::Syntax(p.i));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn skip_ws(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.i += n;
    }

    fn skip_past(&mut self, end: &str) -> Result<usize, XmlError> {
        let at = self.rest().find(end).ok_or(XmlError::Eof)?;
        let start = self.i;
        self.i += at + end.len();
        Ok(start + at)
    }

    /// Whitespace, comments and processing instructions outside the root.
    fn misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_ws();
            if self.rest().starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.rest().starts_with("<!--") {
                self.skip_past("-->")?;
            } else if self.rest().starts_with("<!") {
                return Err(XmlError::Doctype);
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, XmlError> {
        let n: usize = self
            .rest()
            .chars()
            .take_while(|c| is_name_char(*c))
            .map(char::len_utf8)
            .sum();
        if n == 0 {
            return Err(XmlError::Syntax(self.i));
        }
        let name = self.rest()[..n].to_string();
        self.i += n;
        Ok(name)
    }

    fn element(&mut self, depth: usize) -> Result<Element, XmlError> {
        if depth >= MAX_DEPTH {
            return Err(XmlError::TooDeep);
        }
        if !self.rest().starts_with('<') {
            return Err(XmlError::Syntax(self.i));
        }
        self.i += 1;
        let qname = self.name()?;
        let mut el = Element {
            name: local(&qname).to_string(),
            ..Default::default()
        };
        loop {
            self.skip_ws();
            if self.rest().starts_with("/>") {
                self.i += 2;
                return Ok(el);
            }
            if self.rest().starts_with('>') {
                self.i += 1;
                break;
            }
            if self.rest().is_empty() {
                return Err(XmlError::Eof);
            }
            let an = self.name()?;
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(XmlError::Syntax(self.i));
            }
            self.i += 1;
            self.skip_ws();
            let q = self.rest().chars().next().ok_or(XmlError::Eof)?;
            if q != '"' && q != '\'' {
                return Err(XmlError::Syntax(self.i));
            }
            self.i += 1;
            let end = self.rest().find(q).ok_or(XmlError::Eof)?;
            let raw = &self.s[self.i..self.i + end];
            if raw.contains('<') {
                return Err(XmlError::Syntax(self.i));
            }
            let at = self.i;
            self.i += end + 1;
            el.attrs.push((local(&an).to_string(), unescape(raw, at)?));
        }
        loop {
            let r = self.rest();
            if r.is_empty() {
                return Err(XmlError::Eof);
            }
            if r.starts_with("</") {
                self.i += 2;
                let at = self.i;
                let end = self.name()?;
                self.skip_ws();
                if end != qname || !self.rest().starts_with('>') {
                    return Err(XmlError::Mismatch(at));
                }
                self.i += 1;
                return Ok(el);
            } else if r.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if r.starts_with("<![CDATA[") {
                self.i += 9;
                let start = self.i;
                let end = self.skip_past("]]>")?;
                el.text.push_str(&self.s[start..end]);
            } else if r.starts_with("<?") {
                self.skip_past("?>")?;
            } else if r.starts_with("<!") {
                return Err(XmlError::Doctype);
            } else if r.starts_with('<') {
                el.children.push(self.element(depth + 1)?);
            } else {
                let n = r.find('<').unwrap_or(r.len());
                let at = self.i;
                el.text.push_str(&unescape(&r[..n], at)?);
                self.i += n;
            }
        }
    }
}

fn unescape(raw: &str, at: usize) -> Result<String, XmlError> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or(XmlError::Syntax(at))?;
        let ent = &rest[amp + 1..amp + semi];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or(XmlError::Syntax(at))?
            }
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_prefixes_entities_cdata_and_comments() {
        let doc = "<?xml version='1.0'?>\n<!-- c --><rs:a xmlns:rs='urn:x' k=\"v&amp;w\">\
                   <b>one &#x41;&#66;</b><!-- skip --><c/><b><![CDATA[<raw>]]></b></rs:a>\n";
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("k"), Some("v&w"));
        let bs: Vec<_> = root.children_named("b").map(|b| b.text.as_str()).collect();
        assert_eq!(bs, ["one AB", "<raw>"]);
        assert!(root.child("c").is_some());
    }

    #[test]
    fn refuses_bad_documents() {
        assert_eq!(parse("<a><b></a>"), Err(XmlError::Mismatch(8)));
        assert_eq!(
            parse("<!DOCTYPE x [<!ENTITY e 'x'>]><a/>"),
            Err(XmlError::Doctype)
        );
        assert_eq!(parse("<a>&bogus;</a>"), Err(XmlError::Syntax(3)));
        assert_eq!(parse("<a"), Err(XmlError::Eof));
        assert_eq!(parse(""), Err(XmlError::NoRoot));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep));
    }

    proptest! {
        #[test]
        fn random_text_never_panics(s in "[<>/=a-z'\"&;#!\\[\\]? \\-]{0,200}") {
            let _ = parse(&s);
        }
    }
}
