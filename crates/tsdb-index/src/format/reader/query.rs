//! Queries over an `IndexReader`: series by id, selection, label names and values.

use super::*;

impl IndexReader {
    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series_count
    }

    /// Number of distinct strings in the symbol table.
    pub fn num_symbols(&self) -> usize {
        self.sym_count
    }

    /// Size of the file in bytes.
    pub fn file_bytes(&self) -> usize {
        self.bytes().len()
    }

    /// The series ids, ascending.
    pub fn series_ids(&self) -> Result<Vec<SeriesId>> {
        (0..self.series_count)
            .map(|i| Ok(SeriesId(self.u32_at(self.ids_at + i * 4, "series id")?)))
            .collect()
    }

    /// Position of series `id` in the series table.
    fn series_index(&self, id: u32) -> Result<Option<usize>> {
        let i = id as usize;
        if self.dense {
            return Ok((i < self.series_count).then_some(i));
        }
        let (mut lo, mut hi) = (0usize, self.series_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = self.u32_at(self.ids_at + mid * 4, "series id")?;
            match m.cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    /// The checked `(name, value)` symbol pairs of the series at table position `i`.
    fn series_pairs(&self, i: usize) -> Result<Vec<(u32, u32)>> {
        let oat = self.offsets_at + i * 8;
        let off = self.usize_of(self.u64_at(oat, "series offset")?, oat, "series offset")?;
        let at = self
            .entries_at
            .checked_add(off)
            .ok_or_else(|| self.corrupt(oat, "series offset overflow"))?;
        let n = self.u32_at(at, "series entry")? as usize;
        let body = n
            .checked_mul(8)
            .and_then(|b| b.checked_add(4))
            .ok_or_else(|| self.corrupt(at, "series label count too large"))?;
        let entry = self.slice(at, body, self.entries_end, "series entry")?;
        if at + body + 4 > self.entries_end {
            return Err(self.corrupt(at + body, "series entry checksum runs past its section"));
        }
        let expected = self.u32_at(at + body, "series entry checksum")?;
        let found = crc32(entry);
        if expected != found {
            return Err(IndexError::ChecksumMismatch {
                file: self.path.clone(),
                section: "series entry",
                offset: at as u64,
                expected,
                found,
            });
        }
        let mut pairs = Vec::with_capacity(n);
        for k in 0..n {
            let p = at + 4 + k * 8;
            pairs.push((self.u32_at(p, "label")?, self.u32_at(p + 4, "label")?));
        }
        Ok(pairs)
    }

    /// The labels of series `id` (`None` if the index has no such series).
    pub fn labels(&self, id: SeriesId) -> Result<Option<Labels>> {
        let Some(i) = self.series_index(id.0)? else {
            return Ok(None);
        };
        let pairs = self.series_pairs(i)?;
        let mut strs = Vec::with_capacity(pairs.len());
        let mut prev = None::<u32>;
        for (n, v) in pairs {
            let (name, value) = (self.symbol(n)?, self.symbol(v)?);
            if prev.is_some_and(|p| p >= n) || name.is_empty() || value.is_empty() {
                let at = self.offsets_at + i * 8;
                return Err(self.corrupt(at, format!("series {} has malformed labels", id.0)));
            }
            prev = Some(n);
            strs.push((name, value));
        }
        Ok(Some(Labels::from_sorted(strs.into_iter())))
    }

    /// Every series with its labels, ascending by id.
    pub fn all_series(&self) -> Result<Vec<(SeriesId, Labels)>> {
        let mut out = Vec::with_capacity(self.series_count);
        for id in self.series_ids()? {
            if let Some(l) = self.labels(id)? {
                out.push((id, l));
            }
        }
        Ok(out)
    }

    /// The ids of the series matching all `matchers`, ascending, as a bitmap.
    pub fn select_bitmap(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        postings::select(self, matchers)
    }

    /// The ids of the series matching all `matchers`, ascending (same semantics as
    /// [`MemIndex::select`](crate::MemIndex::select)).
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<SeriesId>> {
        Ok(self.select_bitmap(matchers)?.iter().map(SeriesId).collect())
    }

    fn symbols_sorted(&self, syms: impl Iterator<Item = u32>) -> Result<Vec<String>> {
        let mut syms: Vec<u32> = syms.collect();
        // Symbol order is string order.
        syms.sort_unstable();
        syms.dedup();
        syms.into_iter()
            .map(|s| self.symbol(s).map(str::to_string))
            .collect()
    }

    /// The label names of the series matching `matchers` (of all series when empty),
    /// sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = Vec::new();
        if matchers.is_empty() {
            for i in 0..self.name_count {
                names.push(self.name_entry_at(i)?.0);
            }
            return self.symbols_sorted(names.into_iter());
        }
        let sel = self.select_bitmap(matchers)?;
        if sel.len() <= SMALL_SELECTION {
            let mut set = HashSet::new();
            for id in &sel {
                if let Some(i) = self.series_index(id)? {
                    set.extend(self.series_pairs(i)?.into_iter().map(|(n, _)| n));
                }
            }
            return self.symbols_sorted(set.into_iter());
        }
        for i in 0..self.name_count {
            let (name, first, count) = self.name_entry_at(i)?;
            for j in first..first + count {
                if !self.bitmap(j)?.is_disjoint(&sel) {
                    names.push(name);
                    break;
                }
            }
        }
        self.symbols_sorted(names.into_iter())
    }

    /// The values of label `name` among the series matching `matchers` (of all series
    /// when empty), sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let sel = if matchers.is_empty() {
            None
        } else {
            Some(self.select_bitmap(matchers)?)
        };
        let Some((first, count)) = self.name_values(name)? else {
            return Ok(Vec::new());
        };
        let mut values = Vec::new();
        match &sel {
            Some(sel) if sel.len() <= SMALL_SELECTION => {
                let Some(nsym) = self.find_symbol(name)? else {
                    return Ok(Vec::new());
                };
                for id in sel {
                    if let Some(i) = self.series_index(id)? {
                        values.extend(
                            self.series_pairs(i)?
                                .into_iter()
                                .filter(|(n, _)| *n == nsym)
                                .map(|(_, v)| v),
                        );
                    }
                }
            }
            _ => {
                for j in first..first + count {
                    let keep = match &sel {
                        None => true,
                        Some(sel) => !self.bitmap(j)?.is_disjoint(sel),
                    };
                    if keep {
                        values.push(self.value_entry_at(j)?.0);
                    }
                }
            }
        }
        self.symbols_sorted(values.into_iter())
    }
}

impl PostingsSource for IndexReader {
    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>> {
        let Some((first, count)) = self.name_values(name)? else {
            return Ok(None);
        };
        let Some(vsym) = self.find_symbol(value)? else {
            return Ok(None);
        };
        let j = self.value_partition(first, count, vsym)?;
        if j < first + count && self.value_entry_at(j)?.0 == vsym {
            return Ok(Some(Cow::Owned(self.bitmap(j)?)));
        }
        Ok(None)
    }

    fn values_matching(
        &self,
        name: &str,
        prefix: Option<&str>,
        pred: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, RoaringBitmap>>> {
        let Some((first, count)) = self.name_values(name)? else {
            return Ok(Vec::new());
        };
        let (mut lo, mut hi) = (first, first + count);
        if let Some(p) = prefix {
            // Values are sorted by symbol, and symbols by string: the values with the
            // prefix form one run.
            let slo = self.symbol_partition(|s| s < p)?;
            let shi = self.symbol_partition(|s| s < p || s.starts_with(p))?;
            lo = self.value_partition(first, count, slo as u32)?;
            hi = self.value_partition(first, count, shi as u32)?;
        }
        let mut out = Vec::new();
        for j in lo..hi {
            let (vsym, ..) = self.value_entry_at(j)?;
            if pred(self.symbol(vsym)?) {
                out.push(Cow::Owned(self.bitmap(j)?));
            }
        }
        Ok(out)
    }
}
