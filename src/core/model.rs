//! The compiled questionnaire: what the compiler produces and everything
//! else reads. Fields are public for reading; only the compiler builds one,
//! so its invariants (ids unique, names resolved, no cycles, evaluation order
//! topological) hold wherever a `Questionnaire` exists.

use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

use super::expr::syntax::Expr;
use super::value::{Value, decimal_to_json};

/// Text in every language the questionnaire declares, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub Vec<(String, String)>);

impl Text {
    /// The text in `lang`, or in the default (first) language.
    pub fn get(&self, lang: &str) -> &str {
        self.0
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.0.first())
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }

    pub fn to_json(&self) -> Json {
        Json::Object(
            self.0
                .iter()
                .map(|(l, t)| (l.clone(), Json::String(t.clone())))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    Choice,
    Multi,
    Integer,
    Decimal,
    Slider,
    Boolean,
    Date,
    Text,
    Display,
    Section,
}

pub const ITEM_TYPES: &[(&str, ItemType)] = &[
    ("choice", ItemType::Choice),
    ("multi", ItemType::Multi),
    ("integer", ItemType::Integer),
    ("decimal", ItemType::Decimal),
    ("slider", ItemType::Slider),
    ("boolean", ItemType::Boolean),
    ("date", ItemType::Date),
    ("text", ItemType::Text),
    ("display", ItemType::Display),
    ("section", ItemType::Section),
];

impl ItemType {
    pub fn name(self) -> &'static str {
        ITEM_TYPES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Items that take an answer (all but `display` and `section`).
    pub fn answerable(self) -> bool {
        !matches!(self, ItemType::Display | ItemType::Section)
    }

    pub fn has_options(self) -> bool {
        matches!(self, ItemType::Choice | ItemType::Multi)
    }

    pub fn numeric(self) -> bool {
        matches!(
            self,
            ItemType::Integer | ItemType::Decimal | ItemType::Slider
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceOption {
    /// A number or a string; all options of one item are of one kind.
    pub value: Value,
    pub text: Text,
    pub score: Option<Decimal>,
    pub exclusive: bool,
    pub not_applicable: bool,
}

impl ChoiceOption {
    /// What scoring uses: `score`, else a numeric `value`; a not-applicable
    /// option scores its `score` or 0.
    pub fn scoring_value(&self) -> Option<Decimal> {
        if self.not_applicable {
            return Some(self.score.unwrap_or(Decimal::ZERO));
        }
        self.score.or(self.value.as_num())
    }
}

/// An expression with the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub source: String,
    pub ast: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub kind: ItemType,
    pub text: Text,
    pub help: Option<Text>,
    pub required: bool,
    pub options: Vec<ChoiceOption>,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub step: Option<Decimal>,
    pub unit: Option<Text>,
    pub min_text: Option<Text>,
    pub max_text: Option<Text>,
    pub max_length: Option<u32>,
    pub show_if: Option<Expression>,
}

impl Item {
    /// An item with nothing but an id and a type, standing in for one whose
    /// other keys had errors (the compiler never returns one).
    pub(crate) fn placeholder(id: String, kind: ItemType) -> Item {
        Item {
            id,
            kind,
            text: Text(Vec::new()),
            help: None,
            required: false,
            options: Vec::new(),
            min: None,
            max: None,
            step: None,
            unit: None,
            min_text: None,
            max_text: None,
            max_length: None,
            show_if: None,
        }
    }

    /// The lowest and highest score an answer to this item can have (before
    /// `reverse`), when bounded. A not-applicable option's score counts: it
    /// is a possible answer, so bands and rules must cover it.
    pub fn score_range(&self) -> Option<(Decimal, Decimal)> {
        self.option_score_range(true)
    }

    /// The `lo` and `hi` that `reverse` mirrors scores between: as
    /// [`Item::score_range`], but without not-applicable options, which are
    /// never reversed.
    pub fn reverse_range(&self) -> Option<(Decimal, Decimal)> {
        self.option_score_range(false)
    }

    fn option_score_range(&self, with_not_applicable: bool) -> Option<(Decimal, Decimal)> {
        match self.kind {
            ItemType::Choice => {
                let scores: Vec<Decimal> = self
                    .options
                    .iter()
                    .filter(|o| with_not_applicable || !o.not_applicable)
                    .map(|o| o.scoring_value())
                    .collect::<Option<_>>()?;
                Some((*scores.iter().min()?, *scores.iter().max()?))
            }
            ItemType::Multi => {
                let mut lo = Decimal::ZERO;
                let mut hi = Decimal::ZERO;
                for o in self.options.iter().filter(|o| !o.exclusive) {
                    let s = o.scoring_value()?;
                    lo += s.min(Decimal::ZERO);
                    hi += s.max(Decimal::ZERO);
                }
                for o in self.options.iter().filter(|o| o.exclusive) {
                    let s = o.scoring_value()?;
                    lo = lo.min(s);
                    hi = hi.max(s);
                }
                Some((lo, hi))
            }
            ItemType::Integer | ItemType::Decimal | ItemType::Slider => {
                Some((self.min?, self.max?))
            }
            ItemType::Boolean => Some((Decimal::ZERO, Decimal::ONE)),
            _ => None,
        }
    }

    /// The lowest and highest value expressions can see, for numbers.
    pub fn value_range(&self) -> Option<(Decimal, Decimal)> {
        match self.kind {
            ItemType::Choice => {
                let vals: Vec<Decimal> = self
                    .options
                    .iter()
                    .map(|o| o.value.as_num())
                    .collect::<Option<_>>()?;
                Some((*vals.iter().min()?, *vals.iter().max()?))
            }
            ItemType::Integer | ItemType::Decimal | ItemType::Slider => {
                Some((self.min?, self.max?))
            }
            _ => None,
        }
    }

    pub fn option(&self, value: &Value) -> Option<&ChoiceOption> {
        self.options.iter().find(|o| o.value.same(value))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Sum,
    Mean,
    Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impute {
    None,
    Mean,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: Decimal,
    pub id: String,
    pub text: Option<Text>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub id: String,
    pub title: Option<Text>,
    /// Indexes into `Questionnaire::items`.
    pub items: Vec<usize>,
    pub method: Method,
    pub expr: Option<Expression>,
    /// Indexes into `Questionnaire::items`, each also in `items`.
    pub reverse: Vec<usize>,
    pub allow_missing: u32,
    pub impute: Impute,
    pub transform: Option<Expression>,
    pub round: Option<u32>,
    pub bands: Vec<Band>,
    /// The possible range of the reported value, where the compiler could
    /// work it out.
    pub range: Option<(Decimal, Decimal)>,
}

impl Score {
    /// The band a value falls in: the last whose `from` is at or below it.
    pub fn band_of(&self, v: Decimal) -> Option<&Band> {
        self.bands.iter().rev().find(|b| b.from <= v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Green,
    Yellow,
    Red,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "green" => Some(Level::Green),
            "yellow" => Some(Level::Yellow),
            "red" => Some(Level::Red),
            _ => None,
        }
    }
}

/// How a response was given. Paper responses may leave any item unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Web,
    App,
    Paper,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Web => "web",
            Mode::App => "app",
            Mode::Paper => "paper",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "web" => Some(Mode::Web),
            "app" => Some(Mode::App),
            "paper" => Some(Mode::Paper),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub when: Expression,
    pub level: Level,
    pub text: Text,
    pub patient_text: Option<Text>,
    /// Where the rule comes from: the paper, guideline or local decision
    /// behind it (an extension of the format; shown to authors and staff).
    pub source: Option<String>,
}

/// A named look-up table for `table()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    /// Keys are numbers or strings; look-ups compare without conversion.
    pub entries: Vec<(Value, Decimal)>,
}

impl Table {
    pub fn get(&self, key: &Value) -> Option<Decimal> {
        self.entries
            .iter()
            .find(|(k, _)| k.same(key))
            .map(|(_, v)| *v)
    }
}

/// One step of evaluation: an item's visibility and value, or a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Item(usize),
    Score(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Questionnaire {
    pub id: String,
    pub version: u32,
    pub title: Text,
    pub languages: Vec<String>,
    pub description: Option<Text>,
    pub instructions: Option<Text>,
    pub source: Option<String>,
    pub license: Option<String>,
    pub copyright: Option<String>,
    pub tables: Vec<Table>,
    pub items: Vec<Item>,
    pub scores: Vec<Score>,
    pub rules: Vec<Rule>,
    /// Items and scores in an order where everything comes after what it
    /// depends on.
    pub order: Vec<Step>,
    pub item_index: HashMap<String, usize>,
    /// Whether any rule reads earlier responses, and which names (items and
    /// scores) of them it reads; storage loads only those.
    pub uses_history: bool,
    pub history_names: Vec<String>,
    /// The SHA-256 of the compiled JSON (without tests), in hex.
    pub hash: String,
}

impl Questionnaire {
    pub fn default_language(&self) -> &str {
        self.languages.first().map(String::as_str).unwrap_or("en")
    }

    /// The language to use for `wanted`: itself if declared, else the default.
    pub fn language<'a>(&'a self, wanted: &'a str) -> &'a str {
        if self.languages.iter().any(|l| l == wanted) {
            wanted
        } else {
            self.default_language()
        }
    }

    pub fn score_index(&self, id: &str) -> Option<usize> {
        self.scores.iter().position(|s| s.id == id)
    }

    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.id == id)
    }

    /// The compiled questionnaire as JSON: every default made explicit and
    /// shared scales written out per item. Compiling this JSON again gives an
    /// equal questionnaire (tests are not part of it).
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("version".into(), json!(self.version));
        m.insert("title".into(), self.title.to_json());
        m.insert("languages".into(), json!(self.languages));
        opt_text(&mut m, "description", &self.description);
        opt_text(&mut m, "instructions", &self.instructions);
        for (k, v) in [
            ("source", &self.source),
            ("license", &self.license),
            ("copyright", &self.copyright),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.tables.is_empty() {
            let tables: Map<String, Json> = self
                .tables
                .iter()
                .map(|t| {
                    let entries: Map<String, Json> = t
                        .entries
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                Value::Str(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (key, decimal_to_json(*v))
                        })
                        .collect();
                    (t.name.clone(), Json::Object(entries))
                })
                .collect();
            m.insert("tables".into(), Json::Object(tables));
        }
        m.insert(
            "items".into(),
            Json::Array(self.items.iter().map(item_json).collect()),
        );
        if !self.scores.is_empty() {
            m.insert(
                "scores".into(),
                Json::Array(self.scores.iter().map(|s| self.score_json(s)).collect()),
            );
        }
        if !self.rules.is_empty() {
            let rules = self
                .rules
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    o.insert("id".into(), json!(r.id));
                    o.insert("when".into(), json!(r.when.source));
                    o.insert("level".into(), json!(r.level.name()));
                    o.insert("text".into(), r.text.to_json());
                    opt_text(&mut o, "patient_text", &r.patient_text);
                    if let Some(src) = &r.source {
                        o.insert("source".into(), json!(src));
                    }
                    Json::Object(o)
                })
                .collect();
            m.insert("rules".into(), Json::Array(rules));
        }
        Json::Object(m)
    }

    fn score_json(&self, s: &Score) -> Json {
        let mut o = Map::new();
        o.insert("id".into(), json!(s.id));
        opt_text(&mut o, "title", &s.title);
        if !s.items.is_empty() {
            let ids: Vec<&str> = s.items.iter().map(|&i| self.items[i].id.as_str()).collect();
            o.insert("items".into(), json!(ids));
        }
        let method = match s.method {
            Method::Sum => "sum",
            Method::Mean => "mean",
            Method::Expr => "expr",
        };
        o.insert("method".into(), json!(method));
        if let Some(e) = &s.expr {
            o.insert("expr".into(), json!(e.source));
        }
        if !s.reverse.is_empty() {
            let ids: Vec<&str> = s
                .reverse
                .iter()
                .map(|&i| self.items[i].id.as_str())
                .collect();
            o.insert("reverse".into(), json!(ids));
        }
        let impute = match s.impute {
            Impute::None => "none",
            Impute::Mean => "mean",
        };
        o.insert(
            "missing".into(),
            json!({"allow": s.allow_missing, "impute": impute}),
        );
        if let Some(t) = &s.transform {
            o.insert("transform".into(), json!(t.source));
        }
        if let Some(r) = s.round {
            o.insert("round".into(), json!(r));
        }
        if !s.bands.is_empty() {
            let bands = s
                .bands
                .iter()
                .map(|b| {
                    let mut bo = Map::new();
                    bo.insert("from".into(), decimal_to_json(b.from));
                    bo.insert("id".into(), json!(b.id));
                    opt_text(&mut bo, "text", &b.text);
                    Json::Object(bo)
                })
                .collect();
            o.insert("bands".into(), Json::Array(bands));
        }
        Json::Object(o)
    }
}

fn opt_text(m: &mut Map<String, Json>, key: &str, t: &Option<Text>) {
    if let Some(t) = t {
        m.insert(key.into(), t.to_json());
    }
}

fn item_json(it: &Item) -> Json {
    let mut o = Map::new();
    o.insert("id".into(), json!(it.id));
    o.insert("type".into(), json!(it.kind.name()));
    o.insert("text".into(), it.text.to_json());
    opt_text(&mut o, "help", &it.help);
    if it.kind.answerable() {
        o.insert("required".into(), json!(it.required));
    }
    if it.kind.has_options() {
        let opts = it
            .options
            .iter()
            .map(|op| {
                let mut oo = Map::new();
                oo.insert("value".into(), op.value.to_json());
                oo.insert("text".into(), op.text.to_json());
                if let Some(s) = op.score {
                    oo.insert("score".into(), decimal_to_json(s));
                }
                if op.exclusive {
                    oo.insert("exclusive".into(), json!(true));
                }
                if op.not_applicable {
                    oo.insert("not_applicable".into(), json!(true));
                }
                Json::Object(oo)
            })
            .collect();
        o.insert("options".into(), Json::Array(opts));
    }
    for (k, v) in [("min", it.min), ("max", it.max), ("step", it.step)] {
        if let Some(v) = v {
            o.insert(k.into(), decimal_to_json(v));
        }
    }
    opt_text(&mut o, "unit", &it.unit);
    opt_text(&mut o, "min_text", &it.min_text);
    opt_text(&mut o, "max_text", &it.max_text);
    if let Some(n) = it.max_length {
        o.insert("max_length".into(), json!(n));
    }
    if let Some(e) = &it.show_if {
        o.insert("show_if".into(), json!(e.source));
    }
    Json::Object(o)
}
