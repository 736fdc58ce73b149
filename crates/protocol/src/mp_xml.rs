//! The XML of Official Account pushes and passive replies (§4.2–4.4):
//! building the flat `<xml>` documents WeChat sends, and reading replies
//! by tag name (SDKs write tags in any order).

use std::collections::BTreeMap;

/// One field of an `<xml>` document: text in CDATA, or a bare number.
pub enum Field<'a> {
    Text(&'a str, &'a str),
    Number(&'a str, i64),
}

/// `<xml>…</xml>` with the fields in order.
pub fn build(fields: &[Field<'_>]) -> String {
    let mut out = String::from("<xml>");
    for f in fields {
        match f {
            Field::Text(name, value) => {
                // "]]>" cannot appear inside one CDATA section: split it.
                let safe = value.replace("]]>", "]]]]><![CDATA[>");
                out.push_str(&format!("<{name}><![CDATA[{safe}]]></{name}>"));
            }
            Field::Number(name, value) => out.push_str(&format!("<{name}>{value}</{name}>")),
        }
    }
    out.push_str("</xml>");
    out
}

/// Every leaf of an `<xml>` document by its path (`Content`,
/// `Image.MediaId`, `Articles.item[0].Title`); `None` if it is not XML.
pub fn parse(text: &str) -> Option<BTreeMap<String, String>> {
    let doc = roxmltree::Document::parse(text.trim()).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "xml" {
        return None;
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    Some(out)
}

fn walk(node: roxmltree::Node<'_, '_>, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for child in node.children().filter(roxmltree::Node::is_element) {
        let name = child.tag_name().name();
        let n = counts.entry(name).or_insert(0);
        let segment = if name == "item" { format!("{name}[{n}]") } else { name.to_owned() };
        *n += 1;
        let path = if prefix.is_empty() { segment } else { format!("{prefix}.{segment}") };
        if child.children().any(|c| c.is_element()) {
            walk(child, &path, out);
        } else {
            let text: String = child.children().filter_map(|c| c.text()).collect();
            out.insert(path, text.trim().to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_documents_parse_back_by_name() {
        let xml = build(&[
            Field::Text("ToUserName", "gh_1"),
            Field::Number("CreateTime", 1_700_000_000),
            Field::Text("Content", "a ]]> b <c>"),
        ]);
        let map = parse(&xml).unwrap_or_default();
        assert_eq!(map.get("Content").map(String::as_str), Some("a ]]> b <c>"));
        assert_eq!(map.get("CreateTime").map(String::as_str), Some("1700000000"));
    }

    #[test]
    fn replies_in_any_order_with_nesting() {
        let reply = "<xml><MsgType><![CDATA[news]]></MsgType><ArticleCount>2</ArticleCount><Articles>\
            <item><Title><![CDATA[One]]></Title><Url><![CDATA[http://a]]></Url></item>\
            <item><Title><![CDATA[Two]]></Title></item></Articles><ToUserName>o</ToUserName></xml>";
        let map = parse(reply).unwrap_or_default();
        assert_eq!(map.get("Articles.item[1].Title").map(String::as_str), Some("Two"));
        assert_eq!(map.get("MsgType").map(String::as_str), Some("news"));
        assert!(parse("success").is_none() && parse("<other/>").is_none());
    }
}
