//! Mutant schemata (mutation switching: Untch, Offutt and Harrold, ISSTA
//! 1993): every mutant of the C file compiled into one source, each behind
//! a test of a mutant number chosen at run time, so that one build per
//! configuration serves every mutant instead of one build each.
//!
//! A mutant is one contiguous change ([`mutate::Mutant`]). Its *unit* is the
//! smallest piece of the file that can be duplicated and switched without
//! changing anything else:
//!
//! - a **statement** (an expression statement, `KASSERT(...)`, `return`,
//!   `goto`, `break`, `continue`) becomes
//!   `{ if (SEGTAB_MUTANT_ID == k) { mutated } else ... { original } }`;
//!   statement-level switching keeps macros that expand to statements
//!   (`LIST_INSERT_HEAD`) and `KASSERT`'s stringified condition exactly
//!   what the mutant alone would give;
//! - a **condition** (of `if`, `while`, a `for`) or an **expression** that
//!   is not a statement (a declaration's initialiser, a `for` header's
//!   first or third clause: a declaration cannot be put in braces) becomes
//!   `(SEGTAB_MUTANT_ID == k ? (__typeof__(original))(mutated) : ...
//!   (original))`: the cast keeps a negated pointer test well-typed, and
//!   with no mutant selected what is left is exactly `(original)`.
//!
//! Every copy starts on a line of its own after `#line L`, with its newlines
//! kept, so every `__LINE__` (KASSERT's panic text) and every later line
//! has the number it has in the original file: the schema with mutant k
//! selected is the mutant, line for line. A mutant that does not compile
//! in some configurations is fenced with `#if defined(SHIM_CONFIG_<IDENT>)`
//! for the ones where it does (`Config::c_defines`). `SEGTAB_MUTANT_ID` is
//! the global `segtab_mutant` (shim/csrc/guard.c, set by
//! `c_reference::select_mutant`) unless the compiler defines it: a constant
//! turns the schema into one mutant, which is how the tests check that the
//! schema equals each mutant.

use super::mutate::{self, Kind, Mutant, Tok};
use anyhow::{bail, Result};

/// How a unit is switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// A statement: `if`/`else` chain in braces.
    Stmt,
    /// A condition: ternary.
    Cond,
    /// An expression that is not a statement: ternary.
    Expr,
}

/// A piece of the file a mutant inside it duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    /// How it is switched.
    pub kind: UnitKind,
    /// Byte range in the source.
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
    /// Line of `start`.
    pub line: u32,
}

const TYPE_WORDS: [&str; 17] = [
    "struct", "union", "enum", "const", "volatile", "static", "register", "extern", "unsigned",
    "signed", "int", "char", "short", "long", "bool", "void", "_Bool",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    /// For `(`, `[`, `{`: the index of the matching closer.
    close: Vec<usize>,
    units: Vec<Unit>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        let toks = mutate::tokenize(src);
        let mut close = vec![usize::MAX; toks.len()];
        let mut stack: Vec<usize> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match &src[t.start..t.end] {
                "(" | "[" | "{" => stack.push(i),
                ")" | "]" | "}" => {
                    if let Some(o) = stack.pop() {
                        close[o] = i;
                    }
                }
                _ => {}
            }
        }
        Parser {
            src,
            toks,
            close,
            units: Vec::new(),
        }
    }

    fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| &self.src[t.start..t.end])
    }

    fn unit(&mut self, kind: UnitKind, a: usize, b: usize) {
        if a > b || b >= self.toks.len() {
            return;
        }
        self.units.push(Unit {
            kind,
            start: self.toks[a].start,
            end: self.toks[b].end,
            line: self.toks[a].line,
        });
    }

    /// The `;` ending the statement or clause starting at `i`, skipping
    /// bracketed groups; `limit` bounds the search.
    fn semicolon(&self, mut i: usize, limit: usize) -> Option<usize> {
        while i < limit {
            match self.text(i) {
                ";" => return Some(i),
                "(" | "[" | "{" if self.close[i] != usize::MAX => i = self.close[i] + 1,
                ")" | "]" | "}" => return None,
                _ => i += 1,
            }
        }
        None
    }

    /// `T x...`: the statement or clause at `i` declares.
    fn declares(&self, i: usize) -> bool {
        let t = self.text(i);
        TYPE_WORDS.contains(&t)
            || self.toks.get(i).is_some_and(|x| x.kind == Kind::Ident)
                && self
                    .toks
                    .get(i + 1)
                    .is_some_and(|n| n.kind == Kind::Ident || self.text(i + 1) == "*")
    }

    /// The initialisers of the declarators in tokens `a..b` (exclusive).
    fn initialisers(&mut self, a: usize, b: usize) {
        let mut i = a;
        while i < b {
            match self.text(i) {
                "(" | "[" | "{" if self.close[i] != usize::MAX => i = self.close[i] + 1,
                "=" => {
                    let s = i + 1;
                    let mut j = s;
                    while j < b && self.text(j) != "," {
                        j = match self.text(j) {
                            "(" | "[" | "{" if self.close[j] != usize::MAX => self.close[j] + 1,
                            _ => j + 1,
                        };
                    }
                    self.unit(UnitKind::Expr, s, j.min(b) - 1);
                    i = j;
                }
                _ => i += 1,
            }
        }
    }

    /// The condition in the parentheses opened at `open`.
    fn header(&mut self, open: usize, kind: UnitKind) -> Option<usize> {
        if self.text(open) != "(" || self.close[open] == usize::MAX {
            return None;
        }
        let close = self.close[open];
        self.unit(kind, open + 1, close - 1);
        Some(close)
    }

    /// The statement starting at token `i`, inside a body ending at
    /// `limit`; returns the token after it.
    fn stmt(&mut self, i: usize, limit: usize) -> Result<usize> {
        if i >= limit {
            return Ok(limit);
        }
        let t = self.text(i);
        let line = self.toks[i].line;
        let next = match t {
            "{" => {
                let c = self.close[i];
                let mut j = i + 1;
                while j < c {
                    j = self.stmt(j, c)?;
                }
                c + 1
            }
            ";" => i + 1,
            "if" | "while" | "switch" => {
                let kind = if t == "switch" {
                    UnitKind::Expr
                } else {
                    UnitKind::Cond
                };
                let Some(c) = self.header(i + 1, kind) else {
                    bail!("line {line}: `{t}` without a parenthesised header");
                };
                let mut j = self.stmt(c + 1, limit)?;
                if t == "if" && self.text(j) == "else" {
                    j = self.stmt(j + 1, limit)?;
                }
                j
            }
            "for" => {
                let open = i + 1;
                if self.text(open) != "(" || self.close[open] == usize::MAX {
                    bail!("line {line}: `for` without a header");
                }
                let c = self.close[open];
                let Some(s1) = self.semicolon(open + 1, c) else {
                    bail!("line {line}: a `for` header without two `;`");
                };
                let Some(s2) = self.semicolon(s1 + 1, c) else {
                    bail!("line {line}: a `for` header without two `;`");
                };
                if s1 > open + 1 {
                    if self.declares(open + 1) {
                        self.initialisers(open + 1, s1);
                    } else {
                        self.unit(UnitKind::Expr, open + 1, s1 - 1);
                    }
                }
                self.unit(UnitKind::Cond, s1 + 1, s2 - 1);
                self.unit(UnitKind::Expr, s2 + 1, c - 1);
                self.stmt(c + 1, limit)?
            }
            "do" => {
                let j = self.stmt(i + 1, limit)?;
                if self.text(j) != "while" {
                    bail!("line {line}: `do` without `while`");
                }
                let Some(c) = self.header(j + 1, UnitKind::Cond) else {
                    bail!("line {line}: `do ... while` without a condition");
                };
                c + 2
            }
            "case" | "default" => {
                let mut j = i;
                while j < limit && self.text(j) != ":" {
                    j += 1;
                }
                j + 1
            }
            "else" => bail!("line {line}: `else` without `if`"),
            _ if self.toks[i].kind == Kind::Ident && self.text(i + 1) == ":" => {
                // A label: the statement follows it.
                self.stmt(i + 2, limit)?
            }
            _ => {
                let Some(end) = self.semicolon(i, limit) else {
                    bail!("line {line}: a statement without its `;`");
                };
                if self.declares(i) && !matches!(t, "return" | "goto" | "break" | "continue") {
                    self.initialisers(i, end);
                } else {
                    self.unit(UnitKind::Stmt, i, end);
                }
                end + 1
            }
        };
        Ok(next)
    }

    /// Every unit of every function body.
    fn parse(mut self) -> Result<Vec<Unit>> {
        let mut i = 0;
        while i < self.toks.len() {
            // A function body: a `{` at file level right after a `)`.
            if self.text(i) == "{" && i > 0 && self.text(i - 1) == ")" {
                let c = self.close[i];
                if c == usize::MAX {
                    bail!("line {}: an unclosed function body", self.toks[i].line);
                }
                self.stmt(i, c + 1)?;
                i = c + 1;
            } else if matches!(self.text(i), "(" | "[" | "{") && self.close[i] != usize::MAX {
                i = self.close[i] + 1;
            } else {
                i += 1;
            }
        }
        Ok(self.units)
    }
}

/// The units of `src`'s function bodies, in source order.
pub fn units(src: &str) -> Result<Vec<Unit>> {
    let mut u = Parser::new(src).parse()?;
    u.sort_by_key(|u| (u.start, u.end));
    Ok(u)
}

/// A unit that spans a preprocessor line cannot be duplicated: the copies
/// would each carry the directive.
fn crosses_directive(text: &str) -> bool {
    text.lines()
        .skip(1)
        .any(|l| l.trim_start().starts_with('#'))
}

/// The unit each mutant is switched in: the smallest one holding its whole
/// change. `None` for a mutant no unit holds (the schema leaves it out and
/// certify reports it).
pub fn assign(src: &str, units: &[Unit], mutants: &[Mutant]) -> Vec<Option<usize>> {
    mutants
        .iter()
        .map(|m| {
            let (s, e) = (m.start, m.start + m.original.len());
            units
                .iter()
                .enumerate()
                .filter(|(_, u)| u.start <= s && e <= u.end)
                .filter(|(_, u)| !crosses_directive(&src[u.start..u.end]))
                .min_by_key(|(_, u)| u.end - u.start)
                .map(|(i, _)| i)
        })
        .collect()
}

/// One mutant to switch in: its number (index in `mutate::mutants` + 1),
/// and the configurations (idents) it compiles in when not all of them.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// The mutant.
    pub mutant: &'a Mutant,
    /// Its number: `SEGTAB_MUTANT_ID` selects it.
    pub number: u32,
    /// `Some(idents)`: compile it only there.
    pub only: Option<Vec<String>>,
}

/// The schema: `src` with every entry switched in. Errors name a mutant
/// no unit holds.
pub fn generate(src: &str, entries: &[Entry]) -> Result<String> {
    let units = units(src)?;
    let ms: Vec<Mutant> = entries.iter().map(|e| e.mutant.clone()).collect();
    let at = assign(src, &units, &ms);
    let mut per_unit: Vec<Vec<&Entry>> = vec![Vec::new(); units.len()];
    for (e, u) in entries.iter().zip(&at) {
        match u {
            Some(u) => per_unit[*u].push(e),
            None => bail!(
                "mutant {} is in no statement or condition the schema can switch",
                e.mutant.id
            ),
        }
    }
    let mut out = String::with_capacity(src.len() * 4);
    out.push_str(
        "/* Mutant schema generated by segtab-diff certify (engine/src/certify/schema.rs). */\n\
         extern unsigned int segtab_mutant;\n\
         #ifndef SEGTAB_MUTANT_ID\n\
         #define SEGTAB_MUTANT_ID segtab_mutant\n\
         #endif\n\
         #line 1\n",
    );
    let mut pos = 0;
    for (u, es) in units.iter().zip(&per_unit) {
        if es.is_empty() {
            continue;
        }
        out.push_str(&src[pos..u.start]);
        let orig = &src[u.start..u.end];
        let copy = |m: &Mutant| {
            let (s, e) = (m.start - u.start, m.start - u.start + m.original.len());
            format!("{}{}{}", &orig[..s], m.text(), &orig[e..])
        };
        let fence = |out: &mut String, e: &Entry| {
            if let Some(only) = &e.only {
                let cond = if only.is_empty() {
                    "0".to_string()
                } else {
                    only.iter()
                        .map(|i| format!("defined(SHIM_CONFIG_{})", i.to_uppercase()))
                        .collect::<Vec<_>>()
                        .join(" || ")
                };
                out.push_str(&format!("#if {cond}\n"));
            }
        };
        let unfence = |out: &mut String, e: &Entry| {
            if e.only.is_some() {
                out.push_str("#endif\n");
            }
        };
        // A statement switches with `if`/`else` in braces; a condition or
        // an initialiser with a ternary whose mutant arms are cast to the
        // original's type (`__typeof__` names it without evaluating it), so
        // a negated pointer test still type-checks, and with no mutant
        // selected what is left is exactly `(original)`.
        let flat = orig.split_whitespace().collect::<Vec<_>>().join(" ");
        let (open, close) = match u.kind {
            UnitKind::Stmt => ("{\n", format!("{{ {orig} }}}}")),
            UnitKind::Cond | UnitKind::Expr => ("(\n", format!("({orig}))")),
        };
        out.push_str(open);
        for e in es {
            fence(&mut out, e);
            let (k, c) = (e.number, copy(e.mutant));
            let arm = match u.kind {
                UnitKind::Stmt => format!("if (SEGTAB_MUTANT_ID == {k}) {{ {c} }} else"),
                UnitKind::Cond | UnitKind::Expr => {
                    format!("SEGTAB_MUTANT_ID == {k} ? (__typeof__({flat}))({c}) :")
                }
            };
            out.push_str(&format!("#line {}\n{arm}\n", u.line));
            unfence(&mut out, e);
        }
        out.push_str(&format!("#line {}\n{close}", u.line));
        pos = u.end;
    }
    out.push_str(&src[pos..]);
    Ok(out)
}
