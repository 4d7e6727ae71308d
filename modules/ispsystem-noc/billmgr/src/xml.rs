//! billmgr's XML replies as a small owned tree.

/// One element: its name, attributes, direct text and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elem {
    /// The tag name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (its text children joined, trimmed).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Elem>,
}

impl Elem {
    /// Parses a document and returns its root element.
    pub fn parse(text: &str) -> Result<Elem, String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        Ok(Self::from_node(doc.root_element()))
    }

    fn from_node(node: roxmltree::Node<'_, '_>) -> Elem {
        let mut text = String::new();
        let mut children = Vec::new();
        for child in node.children() {
            if child.is_element() {
                children.push(Self::from_node(child));
            } else if child.is_text() {
                text.push_str(child.text().unwrap_or_default());
            }
        }
        Elem {
            name: node.tag_name().name().to_string(),
            attrs: node
                .attributes()
                .map(|a| (a.name().to_string(), a.value().to_string()))
                .collect(),
            text: text.trim().to_string(),
            children,
        }
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Elem> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child called `name` (`None` when there is no such child;
    /// `Some("")` for `<name/>`).
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_text_and_entities() {
        let e = Elem::parse(
            "<?xml version=\"1.0\"?>\n<doc><error type=\"auth\" object=\"x\"><param name=\"a\">1 &amp; 2</param><msg>bad</msg></error><empty/></doc>",
        )
        .unwrap();
        assert_eq!(e.name, "doc");
        let err = e.child("error").unwrap();
        assert_eq!(err.attr("type"), Some("auth"));
        assert_eq!(err.text_of("msg"), Some("bad"));
        assert_eq!(err.children_named("param").next().unwrap().text, "1 & 2");
        assert_eq!(e.text_of("empty"), Some(""));
        assert_eq!(e.text_of("none"), None);
        assert!(Elem::parse("<html><body>").is_err());
        assert!(Elem::parse("").is_err());
    }
}
