//! Mutation operators over C source text: the oracle self-test of
//! `certify` rewrites `pmap_segtab.c` one place at a time and requires a
//! campaign to notice.
//!
//! The parser is deliberately conservative. It mutates only tokens inside
//! function bodies, never comments, strings, character constants,
//! preprocessor lines or `#if 0` blocks, and never the arguments of
//! `UVMHIST_*` and `UVM_PAGE_OWN` (they expand to nothing here, so every
//! mutant there would be equivalent by construction). `KASSERT`
//! conditions are fair game: the DIAGNOSTIC configurations evaluate them.
//!
//! Every mutant is one contiguous replacement of the original text, and is
//! named by a stable id `operator:line:column:original->replacement`, so
//! a list of equivalent mutants can refer to it across runs.

use serde::Serialize;

/// A mutation operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operator {
    /// Relational operator swap (`<` to `<=`, `==` to `!=`, ...).
    Ror,
    /// Logical connector swap (`&&` to `||`).
    Lcr,
    /// Arithmetic and bitwise operator swap (`+` to `-`, `&` to `|`,
    /// `<<` to `>>`, `++` to `--`, ...).
    Aor,
    /// Off-by-one in a mask: the `1` of `& (X - 1)` becomes 0 or 2.
    Mask,
    /// Off-by-one in a shift count: `>> X` becomes `>> (X + 1)` or `(X - 1)`.
    Shift,
    /// Off-by-one in a loop bound or a loop's initial value.
    Bound,
    /// A dropped statement.
    Drop,
    /// Two adjacent arguments of a call swapped.
    Swap,
    /// A negated condition (`if`, `while`, `for`, `KASSERT`).
    Negate,
}

impl Operator {
    /// Every operator, in report order.
    pub const ALL: [Operator; 9] = [
        Operator::Ror,
        Operator::Lcr,
        Operator::Aor,
        Operator::Mask,
        Operator::Shift,
        Operator::Bound,
        Operator::Drop,
        Operator::Swap,
        Operator::Negate,
    ];

    /// The short name used in ids.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Ror => "ror",
            Operator::Lcr => "lcr",
            Operator::Aor => "aor",
            Operator::Mask => "mask",
            Operator::Shift => "shift",
            Operator::Bound => "bound",
            Operator::Drop => "drop",
            Operator::Swap => "swap",
            Operator::Negate => "negate",
        }
    }

    /// What it does, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Operator::Ror => "relational operator swap (< <=, > >=, == !=)",
            Operator::Lcr => "logical connector swap (&& ||)",
            Operator::Aor => {
                "arithmetic/bitwise operator swap (+ -, += -=, ++ --, / *, & |, << >>)"
            }
            Operator::Mask => "off-by-one in a mask: & (X - 1) with 0 or 2",
            Operator::Shift => "off-by-one in a shift count: >> X as X + 1, X - 1",
            Operator::Bound => "off-by-one in a loop bound or loop start",
            Operator::Drop => "dropped statement",
            Operator::Swap => "swapped adjacent call arguments",
            Operator::Negate => "negated condition (if, while, for, KASSERT)",
        }
    }
}

/// One mutant: a single contiguous replacement in the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mutant {
    /// `operator:line:column:original->replacement` (whitespace collapsed).
    pub id: String,
    /// The operator.
    pub op: Operator,
    /// 1-based line of the replaced text's start.
    pub line: u32,
    /// 1-based column (bytes) of the replaced text's start.
    pub col: u32,
    /// Byte offset of the replaced text.
    pub start: usize,
    /// The replaced text.
    pub original: String,
    /// What replaces it.
    pub replacement: String,
}

impl Mutant {
    /// The mutated source. Every line keeps its number: a dropped
    /// statement that spanned several lines leaves its newlines behind, so
    /// the `__LINE__` of every later `KASSERT` (and so every panic text the
    /// engine compares) is the original's, as in the mutant schema, whose
    /// `#line` directives keep the numbering too.
    pub fn apply(&self, src: &str) -> String {
        let mut s = String::with_capacity(src.len() + self.replacement.len());
        s.push_str(&src[..self.start]);
        s.push_str(&self.text());
        s.push_str(&src[self.start + self.original.len()..]);
        s
    }

    /// The replacement as written into the source: `replacement`, plus the
    /// newlines of `original` it lacks.
    pub fn text(&self) -> String {
        let lost = self
            .original
            .matches('\n')
            .count()
            .saturating_sub(self.replacement.matches('\n').count());
        let mut t = self.replacement.clone();
        t.extend(std::iter::repeat('\n').take(lost));
        t
    }

    /// The changed lines as a small unified diff (for survivors).
    pub fn diff(&self, src: &str) -> String {
        let mutated = self.apply(src);
        let a: Vec<&str> = src.lines().collect();
        let b: Vec<&str> = mutated.lines().collect();
        let first = self.line as usize - 1;
        let span = self.original.matches('\n').count() + 1;
        let span_b = self.replacement.matches('\n').count() + 1;
        let mut out = format!("@@ line {} @@\n", self.line);
        for l in &a[first..(first + span).min(a.len())] {
            out.push_str(&format!("-{l}\n"));
        }
        for l in &b[first..(first + span_b).min(b.len())] {
            out.push_str(&format!("+{l}\n"));
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    Number,
    Literal,
    Punct,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok {
    pub(crate) kind: Kind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) line: u32,
    pub(crate) col: u32,
    /// Inside a function body, and not in a statement we leave alone.
    pub(crate) code: bool,
}

const PUNCT3: [&str; 3] = ["<<=", ">>=", "..."];
const PUNCT2: [&str; 19] = [
    "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "&=",
    "|=", "^=", "%=",
];

/// Split C source into tokens, dropping comments, preprocessor lines and
/// `#if 0` blocks.
pub(crate) fn tokenize(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1u32, 0usize);
    let mut at_line_start = true;
    // Depth of `#if 0` nesting being skipped (0: not skipping), and the
    // depth of ordinary #if nesting inside it.
    let mut skip_if0 = 0u32;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            i += 1;
            line += 1;
            line_start = i;
            at_line_start = true;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            continue;
        }
        if at_line_start && c == b'#' {
            // A preprocessor line, with its continuations.
            let s = i;
            while i < b.len() && !(b[i] == b'\n' && b[i - 1] != b'\\') {
                if b[i] == b'\n' {
                    line += 1;
                    line_start = i + 1;
                }
                i += 1;
            }
            let text: String = src[s + 1..i]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if skip_if0 > 0 {
                if text.starts_with("if") {
                    skip_if0 += 1;
                } else if text.starts_with("endif") {
                    skip_if0 -= 1;
                } else if skip_if0 == 1 && (text.starts_with("else") || text.starts_with("elif")) {
                    skip_if0 = 0;
                }
            } else if text == "if 0" {
                skip_if0 = 1;
            }
            continue;
        }
        at_line_start = false;
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                if b[i] == b'\n' {
                    line += 1;
                    line_start = i + 1;
                }
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let col = (i - line_start) as u32 + 1;
        let kind = if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            Kind::Literal
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            Kind::Number
        } else {
            let rest = &src[i..];
            let n = if PUNCT3.iter().any(|p| rest.starts_with(p)) {
                3
            } else if PUNCT2.iter().any(|p| rest.starts_with(p)) {
                2
            } else {
                1
            };
            i += n;
            Kind::Punct
        };
        if skip_if0 == 0 {
            toks.push(Tok {
                kind,
                start,
                end: i,
                line,
                col,
                code: false,
            });
        }
    }
    mark_code(src, &mut toks);
    toks
}

/// Statements whose macros expand to nothing in the shim: mutating them
/// can only make equivalent mutants.
fn silent(name: &str) -> bool {
    name.starts_with("UVMHIST") || name == "UVM_PAGE_OWN"
}

/// Mark the tokens inside function bodies (a `{` at file level right after
/// a `)`), minus silent statements.
fn mark_code(src: &str, toks: &mut [Tok]) {
    let mut depth = 0u32;
    let mut in_fn = false;
    let mut i = 0;
    while i < toks.len() {
        let t = &src[toks[i].start..toks[i].end];
        match t {
            "{" => {
                if depth == 0 && i > 0 && &src[toks[i - 1].start..toks[i - 1].end] == ")" {
                    in_fn = true;
                }
                depth += 1;
            }
            "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_fn = false;
                }
            }
            _ => {
                if in_fn && toks[i].kind == Kind::Ident && silent(t) {
                    // Skip to the `;` that ends the statement.
                    let mut paren = 0i32;
                    while i < toks.len() {
                        match &src[toks[i].start..toks[i].end] {
                            "(" => paren += 1,
                            ")" => paren -= 1,
                            ";" if paren == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    i += 1;
                    continue;
                }
                toks[i].code = in_fn;
            }
        }
        i += 1;
    }
}

struct Gen<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    out: Vec<Mutant>,
}

const KEYWORDS: [&str; 14] = [
    "if", "else", "for", "while", "do", "return", "sizeof", "goto", "continue", "break", "switch",
    "case", "default", "const",
];

impl<'a> Gen<'a> {
    fn text(&self, i: usize) -> &'a str {
        &self.src[self.toks[i].start..self.toks[i].end]
    }

    fn push(&mut self, op: Operator, from: usize, to: usize, replacement: String) {
        let (start, end) = (self.toks[from].start, self.toks[to].end);
        let original = self.src[start..end].to_string();
        if original == replacement {
            return;
        }
        // A change across a preprocessor line (a statement whose halves lie
        // in two `#if` branches, as in rev 1.31's PMAP_HWPAGEWALKER code)
        // is no single mutant of any configuration.
        if original
            .lines()
            .skip(1)
            .any(|l| l.trim_start().starts_with('#'))
        {
            return;
        }
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let t = self.toks[from];
        let id = format!(
            "{}:{}:{}:{}->{}",
            op.name(),
            t.line,
            t.col,
            collapse(&original),
            collapse(&replacement)
        );
        self.out.push(Mutant {
            id,
            op,
            line: t.line,
            col: t.col,
            start,
            original,
            replacement,
        });
    }

    /// The token before `i` ends an operand: `i` is a binary operator.
    fn binary_at(&self, i: usize) -> bool {
        if i == 0 {
            return false;
        }
        let p = self.toks[i - 1];
        let pt = self.text(i - 1);
        match p.kind {
            Kind::Number | Kind::Literal => true,
            Kind::Ident => !KEYWORDS.contains(&pt),
            Kind::Punct => pt == ")" || pt == "]",
        }
    }

    /// Index of the token closing the bracket opened at `open`.
    fn matching(&self, open: usize) -> Option<usize> {
        let (o, c) = match self.text(open) {
            "(" => ("(", ")"),
            "[" => ("[", "]"),
            "{" => ("{", "}"),
            _ => return None,
        };
        let mut d = 0;
        for j in open..self.toks.len() {
            let t = self.text(j);
            if t == o {
                d += 1;
            } else if t == c {
                d -= 1;
                if d == 0 {
                    return Some(j);
                }
            }
        }
        None
    }

    /// Source text of tokens `a..=b`.
    fn span(&self, a: usize, b: usize) -> &'a str {
        &self.src[self.toks[a].start..self.toks[b].end]
    }

    fn operators(&mut self) {
        for i in 0..self.toks.len() {
            if !self.toks[i].code || self.toks[i].kind != Kind::Punct {
                continue;
            }
            let t = self.text(i);
            let ror: &[&str] = match t {
                "<" => &["<="],
                "<=" => &["<"],
                ">" => &[">="],
                ">=" => &[">"],
                "==" => &["!="],
                "!=" => &["=="],
                _ => &[],
            };
            for r in ror {
                self.push(Operator::Ror, i, i, r.to_string());
            }
            match t {
                "&&" => self.push(Operator::Lcr, i, i, "||".into()),
                "||" => self.push(Operator::Lcr, i, i, "&&".into()),
                _ => {}
            }
            let binary = self.binary_at(i);
            let aor: Option<&str> = match t {
                "+" if binary => Some("-"),
                "-" if binary => Some("+"),
                "/" if binary => Some("*"),
                "&" if binary => Some("|"),
                "|" if binary => Some("&"),
                "<<" => Some(">>"),
                ">>" => Some("<<"),
                "+=" => Some("-="),
                "-=" => Some("+="),
                "++" => Some("--"),
                "--" => Some("++"),
                _ => None,
            };
            if let Some(r) = aor {
                self.push(Operator::Aor, i, i, r.into());
            }
            // The count of a shift.
            if (t == ">>" || t == "<<") && i + 1 < self.toks.len() {
                let k = self.toks[i + 1].kind;
                if k == Kind::Ident || k == Kind::Number {
                    let x = self.text(i + 1);
                    self.push(Operator::Shift, i + 1, i + 1, format!("({x} + 1)"));
                    self.push(Operator::Shift, i + 1, i + 1, format!("({x} - 1)"));
                }
            }
            // `& (X - 1)`: the 1 of a mask.
            if t == "&" && binary && i + 1 < self.toks.len() && self.text(i + 1) == "(" {
                if let Some(close) = self.matching(i + 1) {
                    if close >= 3
                        && self.text(close - 1) == "1"
                        && self.text(close - 2) == "-"
                        && close - 2 > i + 1
                    {
                        self.push(Operator::Mask, close - 1, close - 1, "0".into());
                        self.push(Operator::Mask, close - 1, close - 1, "2".into());
                    }
                }
            }
        }
    }

    /// Conditions of `if`/`while`/`for`/`KASSERT`: negated; loop bounds
    /// and starts: off by one.
    fn conditions(&mut self) {
        for i in 0..self.toks.len().saturating_sub(1) {
            if !self.toks[i].code || self.toks[i].kind != Kind::Ident {
                continue;
            }
            let name = self.text(i);
            if self.text(i + 1) != "(" {
                continue;
            }
            let Some(close) = self.matching(i + 1) else {
                continue;
            };
            let (a, b) = (i + 2, close - 1);
            if a > b {
                continue;
            }
            match name {
                "if" | "while" | "KASSERT" => {
                    let c = self.span(a, b);
                    self.push(Operator::Negate, a, b, format!("!({c})"));
                    if name == "while" {
                        self.bound_of(a, b);
                    }
                }
                "KASSERTMSG" => {
                    if let Some(comma) = self.top_commas(a, b).first().copied() {
                        let c = self.span(a, comma - 1);
                        self.push(Operator::Negate, a, comma - 1, format!("!({c})"));
                    }
                }
                "for" => {
                    let semis: Vec<usize> = (a..=b).filter(|&j| self.text(j) == ";").collect();
                    if semis.len() != 2 {
                        continue;
                    }
                    let (s1, s2) = (semis[0], semis[1]);
                    if s2 > s1 + 1 {
                        let c = self.span(s1 + 1, s2 - 1);
                        self.push(Operator::Negate, s1 + 1, s2 - 1, format!("!({c})"));
                        self.bound_of(s1 + 1, s2 - 1);
                    }
                    // The start: `= E` in the initialiser.
                    if let Some(eq) = (a..s1).find(|&j| self.text(j) == "=") {
                        if eq < s1 - 1 {
                            let e = self.span(eq + 1, s1 - 1);
                            self.push(Operator::Bound, eq + 1, s1 - 1, format!("({e}) + 1"));
                            self.push(Operator::Bound, eq + 1, s1 - 1, format!("({e}) - 1"));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// A loop condition `L op R`: R one more and one less.
    fn bound_of(&mut self, a: usize, b: usize) {
        let Some(op) =
            (a..=b).find(|&j| matches!(self.text(j), "<" | "<=" | ">" | ">=" | "!=" | "=="))
        else {
            return;
        };
        if op < b {
            let r = self.span(op + 1, b);
            self.push(Operator::Bound, op + 1, b, format!("({r}) + 1"));
            self.push(Operator::Bound, op + 1, b, format!("({r}) - 1"));
        }
    }

    /// Commas at paren depth 0 in `a..=b`.
    fn top_commas(&self, a: usize, b: usize) -> Vec<usize> {
        let mut d = 0;
        let mut v = Vec::new();
        for j in a..=b {
            match self.text(j) {
                "(" | "[" | "{" => d += 1,
                ")" | "]" | "}" => d -= 1,
                "," if d == 0 => v.push(j),
                _ => {}
            }
        }
        v
    }

    /// Swapped adjacent arguments of function calls. Not of macros (their
    /// arguments may be token pastes or types) nor of format functions
    /// (swapped format arguments are undefined behaviour, not a bug the
    /// port could share).
    fn swaps(&mut self) {
        for i in 0..self.toks.len().saturating_sub(1) {
            if !self.toks[i].code || self.toks[i].kind != Kind::Ident {
                continue;
            }
            let name = self.text(i);
            if KEYWORDS.contains(&name)
                || name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                || matches!(name, "panic" | "printf")
                || self.text(i + 1) != "("
            {
                continue;
            }
            let Some(close) = self.matching(i + 1) else {
                continue;
            };
            if close == i + 2 {
                continue;
            }
            let mut bounds = vec![i + 1];
            bounds.extend(self.top_commas(i + 2, close - 1));
            bounds.push(close);
            for k in 0..bounds.len().saturating_sub(2) {
                let (a0, a1) = (bounds[k] + 1, bounds[k + 1] - 1);
                let (b0, b1) = (bounds[k + 1] + 1, bounds[k + 2] - 1);
                let (x, y) = (self.span(a0, a1), self.span(b0, b1));
                // Names and messages (`__func__`, "reserve") only feed
                // panic texts; swapping one with a pointer is a type error.
                let text_arg = |a: &str| a.contains('"') || a.contains("__func__");
                if x == y || text_arg(x) || text_arg(y) {
                    continue;
                }
                let sep = &self.src[self.toks[a1].end..self.toks[b0].start];
                self.push(Operator::Swap, a0, b1, format!("{y}{sep}{x}"));
            }
        }
    }

    /// Dropped statements: expression statements (assignments, calls,
    /// `goto`, `continue`, `break`) become `;`. Declarations and `return`s
    /// stay (dropping them does not compile or leaves a value undefined).
    fn drops(&mut self) {
        let n = self.toks.len();
        // Paren depth before each token: statements start at depth 0 (the
        // clauses of a `for` header are not statements).
        let mut depth = vec![0i32; n];
        let mut d = 0;
        for (j, slot) in depth.iter_mut().enumerate() {
            *slot = d;
            match self.text(j) {
                "(" | "[" => d += 1,
                ")" | "]" => d -= 1,
                _ => {}
            }
        }
        let mut i = 0;
        while i < n {
            if !self.toks[i].code || depth[i] != 0 {
                i += 1;
                continue;
            }
            let mut prev = if i > 0 { self.text(i - 1) } else { "" };
            // A label: the statement starts after its colon.
            if self.toks[i].kind == Kind::Ident && i + 1 < n && self.text(i + 1) == ":" {
                i += 2;
                prev = ";";
                if i >= n {
                    break;
                }
            }
            // A statement starts after `;`, `{`, `}`, `else`, or the `)`
            // of a control header.
            let starts = matches!(prev, ";" | "{" | "}" | "else")
                || (prev == ")" && self.header_close(i - 1));
            let t = self.text(i);
            if !starts || matches!(t, "{" | "}" | ";" | ")") {
                i += 1;
                continue;
            }
            let first = self.toks[i];
            let keyword = KEYWORDS.contains(&t) && !matches!(t, "goto" | "continue" | "break");
            // `T x` or `T *x`: a declaration (`x * y;` as a statement
            // never occurs in this code).
            let decl = first.kind == Kind::Ident
                && i + 1 < n
                && (self.toks[i + 1].kind == Kind::Ident || self.text(i + 1) == "*");
            if keyword || decl || first.kind != Kind::Ident && t != "*" && t != "(" {
                i += 1;
                continue;
            }
            // Its end: `;` at depth 0.
            let mut d = 0;
            let mut j = i;
            while j < n {
                match self.text(j) {
                    "(" | "[" => d += 1,
                    ")" | "]" => d -= 1,
                    ";" if d == 0 => break,
                    "{" | "}" => break,
                    _ => {}
                }
                j += 1;
            }
            if j < n && self.text(j) == ";" && self.toks[j].code {
                self.push(Operator::Drop, i, j, ";".into());
            }
            i += 1;
        }
    }

    /// `)` at `c` closes an `if`/`for`/`while` header.
    fn header_close(&self, c: usize) -> bool {
        let mut d = 0;
        for j in (0..=c).rev() {
            match self.text(j) {
                ")" => d += 1,
                "(" => {
                    d -= 1;
                    if d == 0 {
                        return j > 0 && matches!(self.text(j - 1), "if" | "for" | "while");
                    }
                }
                _ => {}
            }
        }
        false
    }
}

/// Every mutant of `src`, in a deterministic order (by position, then
/// operator), duplicates removed.
pub fn mutants(src: &str) -> Vec<Mutant> {
    let mut g = Gen {
        src,
        toks: tokenize(src),
        out: Vec::new(),
    };
    g.operators();
    g.conditions();
    g.swaps();
    g.drops();
    let mut v = g.out;
    v.sort_by(|a, b| {
        (a.start, a.op, a.original.len(), &a.replacement).cmp(&(
            b.start,
            b.op,
            b.original.len(),
            &b.replacement,
        ))
    });
    v.dedup_by(|a, b| {
        a.start == b.start && a.original == b.original && a.replacement == b.replacement
    });
    v
}

/// How many mutants each operator made.
pub fn counts(ms: &[Mutant]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for op in Operator::ALL {
        m.insert(op.name(), ms.iter().filter(|x| x.op == op).count());
    }
    m
}
