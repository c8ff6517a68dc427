//! The cluster nodes' entries in `/etc/hosts`: parse, plan, render.
//!
//! Pure: the caller reads the file, calls [`validate_nodes`] and [`plan`],
//! and writes [`Plan::content`] (see `crate::fsutil`) when
//! [`Plan::changed`]. [`plan_edits`] plans the same without copying the
//! file: its [`Edits::pieces`] are the new content, mostly borrowed from
//! the old. Every byte the rules below do not touch is kept:
//! comments, blank lines, order, tabs, spacing, line ends (`\n` or `\r\n`),
//! trailing comments, a missing final newline.
//!
//! # What the resolver sees
//! A line is an entry when its first field (up to a `#`) parses as an IPv4 or
//! IPv6 address; the other fields are names. Other lines (comments, blank
//! lines, an address with a scope id such as `fe80::1%eth0`) are never
//! edited. Names are matched without ASCII case, as the resolver does, and
//! written as given. Loopback lines are those for 127.0.0.0/8, `::1` and
//! `::ffff:127.0.0.0/104`.
//!
//! # `state: present`
//! 1. A node's line is the first line whose address equals the node's ip
//!    (compared as addresses, so `2001:db8::1` equals `2001:DB8:0::1`). It
//!    must read `<ip> <fqdn> <name> <aliases...>`, followed by the names
//!    that belong to no node, in their order: names of other hosts on the
//!    node's address keep resolving as before. Names of other nodes are
//!    taken off it. If the names already read so (exact case), the line is
//!    untouched whatever its spacing. Otherwise it is rewritten in place
//!    with the ip as given and single spaces; a trailing comment is kept
//!    with the spacing before it, leading and trailing blanks are dropped.
//! 2. A node without such a line gets its canonical line appended at the end,
//!    in the order of `nodes`. If the file lacks a final newline, one is
//!    added before appending; the file's line end (`\r\n` if its first line
//!    uses it) is used.
//! 3. Every name of every node is taken off every other line (an old
//!    address, a second line for the same address, the installer's
//!    `127.0.1.1 <fqdn> <host>`), with the separator before it. A line is
//!    removed when no name is left on it, its comment included. Lines that
//!    keep a name keep their other bytes.
//! 4. Loopback lines are edited only with `fix_loopback`; without it they
//!    are kept byte for byte. With it, when the local host name is a node's
//!    name (or its first label is), the local host name itself is also
//!    taken off loopback lines. `localhost` names are never managed, so
//!    `127.0.0.1 localhost` lines always stay.
//! 5. If the last line of the file is removed, the newline of the line
//!    before it stays.
//!
//! # `state: absent`
//! Rule 3 for every line (with rule 4 for loopback lines): the nodes' names
//! are taken off, lines left without a name are removed, nothing is added.
//!
//! # Local host name
//! [`Plan::notices`] says when the local host name is not a node
//! ([`Notice::LocalHostNotANode`]) and when, in the new file, it or its
//! first label still maps to a loopback address
//! ([`Notice::LocalNameOnLoopback`], with `only_loopback` when that is the
//! only address the file gives: pmxcfs then refuses to start).
//!
//! Planning the result again gives no change.

mod entries;
mod file;
mod plan;

pub use entries::{
    check_hostname, is_loopback, is_reserved_name, validate_nodes, Field, InputError, InvalidNodes,
    NameProblem, Node, NodeSpec,
};
pub use file::{parse_entry, Entry, HostsFile, Line};
pub use plan::{plan, plan_edits, Change, Edits, Notice, Options, Plan, State};
