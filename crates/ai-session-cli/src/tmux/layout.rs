//! A window's layout: tmux's tree of cells (left-right and top-bottom containers, pane leaves),
//! with tmux's rules for splitting, closing, resizing and the preset layouts, so pane sizes and
//! `#{window_layout}` come out as tmux computes them.

use serde::{Deserialize, Serialize};

/// The smallest a pane may get (tmux's `PANE_MINIMUM`).
const PANE_MINIMUM: u32 = 1;

/// How a container lays out its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    LeftRight,
    TopBottom,
}

/// One cell: a pane (leaf) or a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub sx: u32,
    pub sy: u32,
    pub xoff: u32,
    pub yoff: u32,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Pane(u32),
    Node(Kind, Vec<Cell>),
}

/// A pane's place as the layout gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub sx: u32,
    pub sy: u32,
    pub xoff: u32,
    pub yoff: u32,
}

/// The preset layouts, in `next-layout` order.
pub const PRESETS: [&str; 5] = [
    "even-horizontal",
    "even-vertical",
    "main-horizontal",
    "main-vertical",
    "tiled",
];

impl Cell {
    pub fn leaf(pane: u32, sx: u32, sy: u32) -> Cell {
        Cell {
            sx,
            sy,
            xoff: 0,
            yoff: 0,
            body: Body::Pane(pane),
        }
    }

    fn size_of(&self, kind: Kind) -> u32 {
        match kind {
            Kind::LeftRight => self.sx,
            Kind::TopBottom => self.sy,
        }
    }

    /// Pane ids in layout order.
    #[cfg(test)]
    pub fn panes(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    #[cfg(test)]
    fn collect(&self, out: &mut Vec<u32>) {
        match &self.body {
            Body::Pane(id) => out.push(*id),
            Body::Node(_, children) => children.iter().for_each(|c| c.collect(out)),
        }
    }

    pub fn geometry(&self, pane: u32) -> Option<Geometry> {
        match &self.body {
            Body::Pane(id) if *id == pane => Some(Geometry {
                sx: self.sx,
                sy: self.sy,
                xoff: self.xoff,
                yoff: self.yoff,
            }),
            Body::Pane(_) => None,
            Body::Node(_, children) => children.iter().find_map(|c| c.geometry(pane)),
        }
    }

    /// The path of child indexes from the root to `pane`'s leaf.
    fn path_to(&self, pane: u32) -> Option<Vec<usize>> {
        match &self.body {
            Body::Pane(id) => (*id == pane).then(Vec::new),
            Body::Node(_, children) => children.iter().enumerate().find_map(|(i, c)| {
                c.path_to(pane).map(|mut p| {
                    p.insert(0, i);
                    p
                })
            }),
        }
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut Cell {
        let mut cell = self;
        for &i in path {
            let Body::Node(_, children) = &mut cell.body else {
                unreachable!("layout paths only pass through nodes")
            };
            cell = &mut children[i];
        }
        cell
    }

    fn at(&self, path: &[usize]) -> &Cell {
        let mut cell = self;
        for &i in path {
            let Body::Node(_, children) = &cell.body else {
                unreachable!("layout paths only pass through nodes")
            };
            cell = &children[i];
        }
        cell
    }

    fn kind(&self) -> Option<Kind> {
        match &self.body {
            Body::Node(kind, _) => Some(*kind),
            Body::Pane(_) => None,
        }
    }

    /// Replaces the pane id in a leaf (swap-pane, respawn as another pane).
    pub fn rename_pane(&mut self, from: u32, to: u32) {
        match &mut self.body {
            Body::Pane(id) if *id == from => *id = to,
            Body::Pane(_) => {}
            Body::Node(_, children) => children.iter_mut().for_each(|c| c.rename_pane(from, to)),
        }
    }

    /// Swaps two panes' places.
    pub fn swap_panes(&mut self, a: u32, b: u32) {
        const TEMP: u32 = u32::MAX;
        self.rename_pane(a, TEMP);
        self.rename_pane(b, a);
        self.rename_pane(TEMP, b);
    }
}

/// Space that can be taken from `cell` in the `kind` direction (tmux `layout_resize_check`).
fn resize_check(cell: &Cell, kind: Kind) -> u32 {
    match &cell.body {
        Body::Pane(_) => cell.size_of(kind).saturating_sub(PANE_MINIMUM),
        Body::Node(k, children) if *k == kind => {
            children.iter().map(|c| resize_check(c, kind)).sum()
        }
        Body::Node(_, children) => children
            .iter()
            .map(|c| resize_check(c, kind))
            .min()
            .unwrap_or(0),
    }
}

/// Grows or shrinks a cell and spreads the change over its children (`layout_resize_adjust`).
fn resize_adjust(cell: &mut Cell, kind: Kind, mut change: i64) {
    match kind {
        Kind::LeftRight => cell.sx = (i64::from(cell.sx) + change).max(0) as u32,
        Kind::TopBottom => cell.sy = (i64::from(cell.sy) + change).max(0) as u32,
    }
    let Body::Node(own, children) = &mut cell.body else {
        return;
    };
    if *own != kind {
        for child in children.iter_mut() {
            resize_adjust(child, kind, change);
        }
        return;
    }
    while change != 0 {
        let before = change;
        for child in children.iter_mut() {
            if change == 0 {
                break;
            }
            if change > 0 {
                resize_adjust(child, kind, 1);
                change -= 1;
            } else if resize_check(child, kind) > 0 {
                resize_adjust(child, kind, -1);
                change += 1;
            }
        }
        if change == before {
            break;
        }
    }
}

/// Recomputes offsets from sizes (`layout_fix_offsets`).
pub fn fix_offsets(root: &mut Cell) {
    root.xoff = 0;
    root.yoff = 0;
    fix_offsets1(root);
}

fn fix_offsets1(cell: &mut Cell) {
    let (xoff, yoff) = (cell.xoff, cell.yoff);
    let Body::Node(kind, children) = &mut cell.body else {
        return;
    };
    let mut offset = match kind {
        Kind::LeftRight => xoff,
        Kind::TopBottom => yoff,
    };
    for child in children.iter_mut() {
        match kind {
            Kind::LeftRight => {
                child.xoff = offset;
                child.yoff = yoff;
                offset += child.sx + 1;
            }
            Kind::TopBottom => {
                child.xoff = xoff;
                child.yoff = offset;
                offset += child.sy + 1;
            }
        }
        fix_offsets1(child);
    }
}

/// Why a split could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSpace;

/// Splits `target`'s cell (or the whole window with `full`) and puts `new` beside it:
/// `size` cells for the new pane (`None`: half), `before` puts it left/above (tmux
/// `layout_split_pane`).
pub fn split(
    root: &mut Cell,
    target: u32,
    new: u32,
    kind: Kind,
    size: Option<u32>,
    before: bool,
    full: bool,
) -> Result<(), NoSpace> {
    let path = if full {
        Vec::new()
    } else {
        root.path_to(target).ok_or(NoSpace)?
    };
    let cell = root.at(&path);
    let (sx, sy, xoff, yoff) = (cell.sx, cell.sy, cell.xoff, cell.yoff);
    let saved = cell.size_of(kind);
    if saved < PANE_MINIMUM * 2 + 1 {
        return Err(NoSpace);
    }
    let mut size2 = match size {
        None => saved.div_ceil(2) - 1,
        Some(size) if before => saved.saturating_sub(size + 1),
        Some(size) => size,
    };
    size2 = size2.clamp(PANE_MINIMUM, saved - 2);
    let size1 = saved - 1 - size2;
    let sized = |cell: &mut Cell, size: u32, offset: u32| match kind {
        Kind::LeftRight => {
            cell.sx = size;
            cell.sy = sy;
            cell.xoff = xoff + offset;
            cell.yoff = yoff;
        }
        Kind::TopBottom => {
            cell.sx = sx;
            cell.sy = size;
            cell.xoff = xoff;
            cell.yoff = yoff + offset;
        }
    };
    let parent_same =
        !full && !path.is_empty() && root.at(&path[..path.len() - 1]).kind() == Some(kind);
    let mut new_cell = Cell::leaf(new, 0, 0);
    if parent_same {
        let index = path[path.len() - 1];
        let parent = root.at_mut(&path[..path.len() - 1]);
        let Body::Node(_, children) = &mut parent.body else {
            unreachable!()
        };
        let (first_size, second_size) = (size1, size2);
        if before {
            sized(&mut new_cell, first_size, 0);
            sized(&mut children[index], second_size, first_size + 1);
            children.insert(index, new_cell);
        } else {
            sized(&mut children[index], first_size, 0);
            sized(&mut new_cell, second_size, first_size + 1);
            children.insert(index + 1, new_cell);
        }
    } else {
        let cell = root.at_mut(&path);
        let mut old = std::mem::replace(
            cell,
            Cell {
                sx,
                sy,
                xoff,
                yoff,
                body: Body::Node(kind, Vec::new()),
            },
        );
        let children = if before {
            sized(&mut new_cell, size1, 0);
            if full {
                resize_adjust(&mut old, kind, i64::from(size2) - i64::from(saved));
            }
            sized(&mut old, size2, size1 + 1);
            vec![new_cell, old]
        } else {
            if full {
                resize_adjust(&mut old, kind, i64::from(size1) - i64::from(saved));
            }
            sized(&mut old, size1, 0);
            sized(&mut new_cell, size2, size1 + 1);
            vec![old, new_cell]
        };
        cell.body = Body::Node(kind, children);
    }
    fix_offsets(root);
    Ok(())
}

/// Removes a pane's cell, giving its space to a neighbour (`layout_destroy_cell`). `false` if the
/// pane was the last one.
pub fn remove(root: &mut Cell, pane: u32) -> bool {
    let Some(path) = root.path_to(pane) else {
        return true;
    };
    if path.is_empty() {
        return false;
    }
    let parent_path = &path[..path.len() - 1];
    let index = path[path.len() - 1];
    let parent = root.at_mut(parent_path);
    let Body::Node(kind, children) = &mut parent.body else {
        unreachable!()
    };
    let kind = *kind;
    let removed = children.remove(index);
    let other = if index == 0 { 0 } else { index - 1 };
    if let Some(other) = children.get_mut(other) {
        resize_adjust(other, kind, i64::from(removed.size_of(kind)) + 1);
    }
    if children.len() == 1 {
        let only = children.remove(0);
        let (sx, sy, xoff, yoff) = (parent.sx, parent.sy, parent.xoff, parent.yoff);
        *parent = only;
        (parent.sx, parent.sy, parent.xoff, parent.yoff) = (sx, sy, xoff, yoff);
        // The merged child keeps its own size; tmux keeps the child's cell, which already had
        // the parent's size along the other axis and the summed size along this one.
    }
    fix_offsets(root);
    true
}

/// Grows (`change` > 0) or shrinks `pane` along `kind` (`layout_resize_pane`).
pub fn resize_pane(root: &mut Cell, pane: u32, kind: Kind, change: i64, opposite: bool) {
    let Some(mut path) = root.path_to(pane) else {
        return;
    };
    // Find the nearest ancestor of the same kind.
    loop {
        if path.is_empty() {
            return;
        }
        let parent = root.at(&path[..path.len() - 1]);
        if parent.kind() == Some(kind) {
            break;
        }
        path.pop();
    }
    let parent_path = path[..path.len() - 1].to_vec();
    let mut index = path[path.len() - 1];
    let count = match &root.at(&parent_path).body {
        Body::Node(_, c) => c.len(),
        Body::Pane(_) => return,
    };
    if index == count - 1 {
        index -= 1;
    }
    let mut needed = change;
    while needed != 0 {
        let parent = root.at_mut(&parent_path);
        let Body::Node(_, children) = &mut parent.body else {
            return;
        };
        let size = if change > 0 {
            grow(children, index, kind, needed, opposite)
        } else {
            shrink(children, index, kind, needed)
        };
        if size == 0 {
            break;
        }
        if change > 0 {
            needed -= size;
        } else {
            needed += size;
        }
    }
    fix_offsets(root);
}

fn grow(children: &mut [Cell], index: usize, kind: Kind, needed: i64, opposite: bool) -> i64 {
    let mut remove = None;
    for (i, child) in children.iter().enumerate().skip(index + 1) {
        let size = resize_check(child, kind);
        if size > 0 {
            remove = Some((i, size));
            break;
        }
    }
    if opposite && remove.is_none() {
        for i in (0..index).rev() {
            let size = resize_check(&children[i], kind);
            if size > 0 {
                remove = Some((i, size));
                break;
            }
        }
    }
    let Some((remove, size)) = remove else {
        return 0;
    };
    let size = i64::from(size).min(needed);
    resize_adjust(&mut children[index], kind, size);
    resize_adjust(&mut children[remove], kind, -size);
    size
}

fn shrink(children: &mut [Cell], index: usize, kind: Kind, needed: i64) -> i64 {
    let mut remove = None;
    for i in (0..=index).rev() {
        let size = resize_check(&children[i], kind);
        if size != 0 {
            remove = Some((i, size));
            break;
        }
    }
    let Some((remove, size)) = remove else {
        return 0;
    };
    if index + 1 >= children.len() {
        return 0;
    }
    let size = i64::from(size).min(-needed);
    resize_adjust(&mut children[index + 1], kind, size);
    resize_adjust(&mut children[remove], kind, -size);
    size
}

/// Sets `pane`'s size along `kind` to `new_size` (`layout_resize_pane_to`).
pub fn resize_pane_to(root: &mut Cell, pane: u32, kind: Kind, new_size: u32) {
    let Some(mut path) = root.path_to(pane) else {
        return;
    };
    loop {
        if path.is_empty() {
            return;
        }
        if root.at(&path[..path.len() - 1]).kind() == Some(kind) {
            break;
        }
        path.pop();
    }
    let cell = root.at(&path);
    let size = i64::from(cell.size_of(kind));
    let parent = root.at(&path[..path.len() - 1]);
    let last = match &parent.body {
        Body::Node(_, c) => path[path.len() - 1] == c.len() - 1,
        Body::Pane(_) => false,
    };
    let change = if last {
        size - i64::from(new_size)
    } else {
        i64::from(new_size) - size
    };
    resize_pane(root, pane, kind, change, true);
}

/// Fits the layout to a new window size (`layout_resize`).
pub fn resize_window(root: &mut Cell, sx: u32, sy: u32) {
    for (kind, want) in [(Kind::LeftRight, sx), (Kind::TopBottom, sy)] {
        let have = i64::from(root.size_of(kind));
        let mut change = i64::from(want) - have;
        let limit = i64::from(resize_check(root, kind));
        if change < 0 && change < -limit {
            change = -limit;
        }
        if limit == 0 {
            change = if i64::from(want) <= have {
                0
            } else {
                i64::from(want) - have
            };
        }
        if change != 0 {
            resize_adjust(root, kind, change);
        }
    }
    fix_offsets(root);
}

/// Spreads a container's children evenly (`layout_spread_cell`); true if anything changed.
fn spread_cell(cell: &mut Cell) -> bool {
    let (sx, sy) = (cell.sx, cell.sy);
    let Body::Node(kind, children) = &mut cell.body else {
        return false;
    };
    let number = children.len() as u32;
    if number <= 1 {
        return false;
    }
    let size = match kind {
        Kind::LeftRight => sx,
        Kind::TopBottom => sy,
    };
    if size < number - 1 {
        return false;
    }
    let mut each = (size - (number - 1)) / number;
    if each == 0 {
        return false;
    }
    let mut changed = false;
    let last = children.len() - 1;
    for (i, child) in children.iter_mut().enumerate() {
        if i == last {
            each = size - (each + 1) * (number - 1);
        }
        let change = i64::from(each) - i64::from(child.size_of(*kind));
        resize_adjust(child, *kind, change);
        changed |= change != 0;
    }
    changed
}

/// `select-layout -E`: spread the pane's parent (and further up while nothing changes).
pub fn spread_out(root: &mut Cell, pane: u32) {
    let Some(mut path) = root.path_to(pane) else {
        return;
    };
    while !path.is_empty() {
        path.pop();
        if spread_cell(root.at_mut(&path)) {
            break;
        }
    }
    fix_offsets(root);
}

/// Builds a preset layout for `panes` (in window order) in a window of `sx` x `sy`.
pub fn preset(name: &str, panes: &[u32], sx: u32, sy: u32, main_size: Option<u32>) -> Option<Cell> {
    let n = panes.len() as u32;
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(Cell::leaf(panes[0], sx, sy));
    }
    let mut root = match name {
        "even-horizontal" | "even-vertical" => {
            let kind = if name == "even-horizontal" {
                Kind::LeftRight
            } else {
                Kind::TopBottom
            };
            let min = n * (PANE_MINIMUM + 1) - 1;
            let (rx, ry) = match kind {
                Kind::LeftRight => (min.max(sx), sy),
                Kind::TopBottom => (sx, min.max(sy)),
            };
            let children = panes.iter().map(|p| Cell::leaf(*p, sx, sy)).collect();
            let mut root = Cell {
                sx: rx,
                sy: ry,
                xoff: 0,
                yoff: 0,
                body: Body::Node(kind, children),
            };
            // Leaves start at the window size along the other axis.
            if let Body::Node(_, children) = &mut root.body {
                for c in children.iter_mut() {
                    match kind {
                        Kind::LeftRight => c.sy = ry,
                        Kind::TopBottom => c.sx = rx,
                    }
                }
            }
            spread_cell(&mut root);
            root
        }
        "main-horizontal" | "main-vertical" => {
            let horizontal = name == "main-horizontal";
            let others = n - 1;
            let (along, across) = if horizontal { (sy, sx) } else { (sx, sy) };
            let avail = along.saturating_sub(1);
            let mut main = main_size.unwrap_or(if horizontal { 24 } else { 80 });
            let other;
            if main + PANE_MINIMUM >= avail {
                main = if avail <= PANE_MINIMUM * 2 {
                    PANE_MINIMUM
                } else {
                    avail - PANE_MINIMUM
                };
                other = PANE_MINIMUM;
            } else {
                other = avail - main;
            }
            let across = (others * (PANE_MINIMUM + 1) - 1).max(across);
            let (outer, inner) = if horizontal {
                (Kind::TopBottom, Kind::LeftRight)
            } else {
                (Kind::LeftRight, Kind::TopBottom)
            };
            let dims = |a: u32, b: u32| if horizontal { (b, a) } else { (a, b) };
            let (mx, my) = dims(main, across);
            let main_cell = Cell::leaf(panes[0], mx, my);
            let (ox, oy) = dims(other, across);
            let other_cell = if others == 1 {
                Cell::leaf(panes[1], ox, oy)
            } else {
                let (cx, cy) = dims(other, PANE_MINIMUM);
                let children = panes[1..].iter().map(|p| Cell::leaf(*p, cx, cy)).collect();
                let mut cell = Cell {
                    sx: ox,
                    sy: oy,
                    xoff: 0,
                    yoff: 0,
                    body: Body::Node(inner, children),
                };
                spread_cell(&mut cell);
                cell
            };
            let (rx, ry) = dims(main + other + 1, across);
            Cell {
                sx: rx,
                sy: ry,
                xoff: 0,
                yoff: 0,
                body: Body::Node(outer, vec![main_cell, other_cell]),
            }
        }
        "tiled" => {
            let (mut rows, mut columns) = (1, 1);
            while rows * columns < n {
                rows += 1;
                if rows * columns < n {
                    columns += 1;
                }
            }
            let width = (sx.saturating_sub(columns - 1) / columns).max(PANE_MINIMUM);
            let height = (sy.saturating_sub(rows - 1) / rows).max(PANE_MINIMUM);
            let rx = ((width + 1) * columns - 1).max(sx);
            let ry = ((height + 1) * rows - 1).max(sy);
            let mut row_cells = Vec::new();
            let mut rest = panes;
            for j in 0..rows {
                if rest.is_empty() {
                    break;
                }
                if n - j * columns == 1 || columns == 1 {
                    row_cells.push(Cell::leaf(rest[0], sx, height));
                    rest = &rest[1..];
                    continue;
                }
                let take = (columns as usize).min(rest.len());
                let children: Vec<Cell> = rest[..take]
                    .iter()
                    .map(|p| Cell::leaf(*p, width, height))
                    .collect();
                rest = &rest[take..];
                let mut row = Cell {
                    sx,
                    sy: height,
                    xoff: 0,
                    yoff: 0,
                    body: Body::Node(Kind::LeftRight, children),
                };
                let used = take as u32 * (width + 1) - 1;
                if sx > used
                    && let Body::Node(_, children) = &mut row.body
                    && let Some(last) = children.last_mut()
                {
                    resize_adjust(last, Kind::LeftRight, i64::from(sx - used));
                }
                row_cells.push(row);
            }
            let mut root = Cell {
                sx: rx,
                sy: ry,
                xoff: 0,
                yoff: 0,
                body: Body::Node(Kind::TopBottom, row_cells),
            };
            let used = rows * height + rows - 1;
            if sy > used
                && let Body::Node(_, rows) = &mut root.body
                && let Some(last) = rows.last_mut()
            {
                resize_adjust(last, Kind::TopBottom, i64::from(sy - used));
            }
            root
        }
        _ => return None,
    };
    fix_offsets(&mut root);
    Some(root)
}

/// `#{window_layout}`: tmux's checksummed layout string.
pub fn dump(root: &Cell) -> String {
    let mut body = String::new();
    append(root, &mut body);
    format!("{:04x},{body}", checksum(&body))
}

fn append(cell: &Cell, out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}x{},{},{}", cell.sx, cell.sy, cell.xoff, cell.yoff);
    match &cell.body {
        Body::Pane(id) => {
            let _ = write!(out, ",{id}");
        }
        Body::Node(kind, children) => {
            let (open, close) = match kind {
                Kind::LeftRight => ('{', '}'),
                Kind::TopBottom => ('[', ']'),
            };
            out.push(open);
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(child, out);
            }
            out.push(close);
        }
    }
}

fn checksum(text: &str) -> u16 {
    let mut csum: u16 = 0;
    for byte in text.bytes() {
        csum = (csum >> 1) | ((csum & 1) << 15);
        csum = csum.wrapping_add(u16::from(byte));
    }
    csum
}

/// Parses a layout string (`select-layout 'c6e0,80x24,0,0{...}'`) for the given panes, in order.
pub fn parse(text: &str, panes: &[u32]) -> Option<Cell> {
    let (sum, body) = text.split_once(',')?;
    if u16::from_str_radix(sum, 16).ok()? != checksum(body) {
        return None;
    }
    let mut rest = body.as_bytes();
    let mut next = panes.iter().copied();
    let cell = parse_cell(&mut rest, &mut next)?;
    (rest.is_empty() && next.next().is_none()).then_some(cell)
}

fn parse_cell(rest: &mut &[u8], panes: &mut impl Iterator<Item = u32>) -> Option<Cell> {
    let sx = number(rest)?;
    expect(rest, b'x')?;
    let sy = number(rest)?;
    expect(rest, b',')?;
    let xoff = number(rest)?;
    expect(rest, b',')?;
    let yoff = number(rest)?;
    let body = match rest.first() {
        Some(b',') if rest.get(1).is_some_and(u8::is_ascii_digit) => {
            *rest = &rest[1..];
            number(rest)?;
            Body::Pane(panes.next()?)
        }
        Some(open @ (b'{' | b'[')) => {
            let (kind, close) = if *open == b'{' {
                (Kind::LeftRight, b'}')
            } else {
                (Kind::TopBottom, b']')
            };
            *rest = &rest[1..];
            let mut children = Vec::new();
            loop {
                children.push(parse_cell(rest, panes)?);
                match rest.first() {
                    Some(b',') => *rest = &rest[1..],
                    Some(c) if *c == close => {
                        *rest = &rest[1..];
                        break;
                    }
                    _ => return None,
                }
            }
            Body::Node(kind, children)
        }
        _ => Body::Pane(panes.next()?),
    };
    Some(Cell {
        sx,
        sy,
        xoff,
        yoff,
        body,
    })
}

fn number(rest: &mut &[u8]) -> Option<u32> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    *rest = &rest[digits..];
    Some(value)
}

fn expect(rest: &mut &[u8], byte: u8) -> Option<()> {
    (rest.first() == Some(&byte)).then(|| *rest = &rest[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_halves_like_tmux() {
        let mut root = Cell::leaf(0, 80, 24);
        split(&mut root, 0, 1, Kind::TopBottom, None, false, false).unwrap();
        assert_eq!(root.geometry(0).unwrap().sy, 12);
        assert_eq!(root.geometry(1).unwrap().sy, 11);
        assert_eq!(root.geometry(1).unwrap().yoff, 13);
        // tmux 3.3a: `tmux new -d -x 80 -y 24; splitw; display -p '#{window_layout}'`
        assert_eq!(dump(&root), "c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1]");
        split(&mut root, 1, 2, Kind::LeftRight, Some(10), false, false).unwrap();
        assert_eq!(root.geometry(2).unwrap().sx, 10);
        // ...; splitw -h -l 10
        assert_eq!(
            dump(&root),
            "b38f,80x24,0,0[80x12,0,0,0,80x11,0,13{69x11,0,13,1,10x11,70,13,2}]"
        );
        assert_eq!(root.panes(), vec![0, 1, 2]);
        assert!(remove(&mut root, 1));
        assert_eq!(root.geometry(2).unwrap().sx, 80);
        assert!(remove(&mut root, 2));
        assert_eq!(root.geometry(0).unwrap().sy, 24);
        assert!(!remove(&mut root, 0));
    }

    #[test]
    fn layouts_round_trip() {
        // tmux 3.3a: three panes, `select-layout tiled`.
        let tiled = preset("tiled", &[0, 1, 2], 80, 24, None).unwrap();
        assert_eq!(
            dump(&tiled),
            "a7cf,80x24,0,0[80x11,0,0{39x11,0,0,0,40x11,40,0,1},80x12,0,12,2]"
        );
        let root = preset("tiled", &[3, 4, 5], 80, 24, None).unwrap();
        let text = dump(&root);
        assert_eq!(parse(&text, &[3, 4, 5]).unwrap(), root);
        assert!(parse("ffff,80x24,0,0,1", &[1]).is_none());
    }

    #[test]
    fn resize_moves_the_border() {
        let mut root = Cell::leaf(0, 80, 24);
        split(&mut root, 0, 1, Kind::TopBottom, None, false, false).unwrap();
        resize_pane(&mut root, 0, Kind::TopBottom, 4, true);
        assert_eq!(root.geometry(0).unwrap().sy, 16);
        assert_eq!(root.geometry(1).unwrap().sy, 7);
        resize_pane_to(&mut root, 1, Kind::TopBottom, 10);
        assert_eq!(root.geometry(1).unwrap().sy, 10);
        resize_window(&mut root, 100, 30);
        let (a, b) = (root.geometry(0).unwrap(), root.geometry(1).unwrap());
        assert_eq!((a.sx, a.sy + b.sy + 1), (100, 30));
    }
}
