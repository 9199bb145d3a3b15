# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled one-pass parsers for Kaggle ``train.csv`` fields (built by ``pip install``; see setup.py).

Kaggle's ``EncodedPixels`` hold ~170M integers in ~870 MB of text. Whole-array numpy needs some twenty
passes over them (find tokens, parse, pair, validate, merge, box, delta-code, write), ~20 ns an integer;
one compiled pass over the bytes does all of it in ~1.5 ns a byte, without the GIL, so two threads convert
two blocks at once. The small fields (sizes, class ids, attribute lists) get the same treatment: one pass
instead of a dozen Arrow calls per column and block.

Rules shared with the Python-side messages (``rle.check_kaggle_rle``, ``kaggle_csv._row_error``), and
checked against pycocotools in ``tests/data/test_rle.py``:
- Tokens are runs of ASCII digits separated by ASCII whitespace; any other byte makes the row invalid.
- Runs are ``start length`` pairs, 1-indexed, column-major; a run must start at or after the previous
  run's end and end within ``h * w``. A run starting exactly where the previous ended is merged into it,
  as ``pycocotools.mask.encode`` sees the mask.
- Counts are written as ``maskApi.c rleToString`` does: 5-bit groups, low first, ``48 + group``, 0x20 =
  more groups follow; count m > 2 stored as its difference to count m - 2.
- Boxes are ``maskApi.c rleToBbox``'s: the exact pixel bounding box, full height when a run wraps columns.
- Small fields: 1-9 ASCII digits, optionally padded with ASCII whitespace.
"""

from libc.stdint cimport int64_t, uint8_t

# Tokens beyond this cannot be a pixel of any image (sides <= 100k); also keeps int64 far from overflow.
cdef int64_t MAX_TOKEN = (<int64_t>1) << 40
cdef enum:
    MAX_TOKEN_DIGITS = 13  # 10**13 > MAX_TOKEN: a longer token is invalid before it could overflow
    MAX_FIELD_DIGITS = 9  # sizes, class and attribute ids
# Every count written is at most h*w <= 10**10 < 2**34 (runs are validated before they are written), so
# a count (or its difference to another) takes at most 7 chars; a row of L bytes holds at most
# (L + 1) // 2 tokens, i.e. (L + 1) // 2 + 1 counts (an empty row: the single count h*w).
MAX_CHARS_PER_COUNT = 7


def output_capacity(int64_t text_bytes, int64_t rows) -> int:
    """Chars that ``convert_rows`` may write for ``rows`` rows holding ``text_bytes`` bytes in all."""
    return MAX_CHARS_PER_COUNT * ((text_bytes + rows) // 2 + 2 * rows) + 16


cdef inline bint _is_space(uint8_t ch) noexcept nogil:
    return ch == 32 or 9 <= ch <= 13


cdef inline int64_t _put_count(uint8_t[::1] out, int64_t q, int64_t x) noexcept nogil:
    """Write one (delta-coded) count at out[q:], return the new cursor (maskApi.c rleToString)."""
    cdef int64_t c
    cdef bint more = True
    while more:
        c = x & 0x1F
        x >>= 5  # arithmetic shift: negative values stay negative
        more = (x != -1) if (c & 0x10) else (x != 0)
        if more:
            c |= 0x20
        out[q] = <uint8_t>(c + 48)
        q += 1
    return q


def convert_rows(
    const uint8_t[::1] text,
    const int64_t[::1] starts,
    const int64_t[::1] ends,
    const int64_t[::1] heights,
    const int64_t[::1] widths,
    uint8_t[::1] out,
    uint8_t[::1] ok,
    int64_t[::1] char_ends,
    double[:, ::1] boxes,
    double[::1] areas,
) -> int:
    """Convert B Kaggle RLEs; row b is ``text[starts[b]:ends[b]]`` for an image of heights[b] x widths[b].

    text: (T,) uint8; starts, ends, heights (>= 1), widths: (B,) int64.
    Writes out: (C,) uint8 compressed COCO counts of the rows one after another (row b ends at
    char_ends[b], starts where row b - 1 ended; nothing for an invalid row), ok: (B,) bool as uint8,
    boxes: (B, 4) float64 XYWH and areas: (B,) float64 (zeros for invalid or empty rows). An empty row is
    a valid empty mask. ``out`` must hold ``output_capacity(T, B)`` chars. Returns the chars written.
    """
    cdef Py_ssize_t b, n_rows = starts.shape[0]
    cdef int64_t q = 0, text_bytes = 0, row_q, h, total, i, stop, token_start, value, digit, n_tokens
    cdef int64_t start = 0, length, run_end, pending_start, pending_len, next_free, written_end
    cdef int64_t prev_gap, prev_len, m, x_min, y_min, y_max, area, p0, col, y, tail, x_max
    cdef double inv_h
    cdef bint good
    # The loops below run without bounds checks: check every shape and index they will use first.
    if ends.shape[0] != n_rows or heights.shape[0] != n_rows or widths.shape[0] != n_rows or ok.shape[0] != n_rows \
            or char_ends.shape[0] != n_rows or boxes.shape[0] != n_rows or boxes.shape[1] != 4 or areas.shape[0] != n_rows:
        raise ValueError("starts, ends, heights, widths, ok, char_ends, boxes (B, 4) and areas must have B rows")
    for b in range(n_rows):
        if not 0 <= starts[b] <= ends[b] <= text.shape[0] or heights[b] < 1 or widths[b] < 1:
            raise ValueError(f"row {b}: bytes {starts[b]}..{ends[b]} of {text.shape[0]}, size {heights[b]}x{widths[b]}")
        text_bytes += ends[b] - starts[b]
    if out.shape[0] < output_capacity(text_bytes, n_rows):
        raise ValueError(f"out holds {out.shape[0]} chars; need {output_capacity(text_bytes, n_rows)}")
    with nogil:
        for b in range(n_rows):
            h = heights[b]
            total = h * widths[b]
            inv_h = 1.0 / h
            row_q = q
            good = True
            n_tokens = 0
            pending_start = 0  # the run being extended by touching runs, written when the next one begins
            pending_len = 0
            next_free = 1  # first pixel after the last run read (1-indexed)
            written_end = 1  # first pixel after the last run written
            m = 0  # counts written
            # Count k > 2 is stored relative to count k - 2: lengths from the second run on, gaps from the
            # third (count 2 is the second gap, stored as it is). Hence both references start at 0.
            prev_gap = 0
            prev_len = 0
            x_min = 0
            y_min = h
            y_max = -1
            area = 0
            i = starts[b]
            stop = ends[b]
            while True:
                while i < stop and _is_space(text[i]):
                    i += 1
                if i == stop:
                    break
                token_start = i
                value = 0
                while i < stop:
                    digit = <int64_t>text[i] - 48
                    if <unsigned long long>digit > 9:  # one compare for "not 0..9"
                        break
                    value = value * 10 + digit
                    i += 1
                # No digit here means a byte that is neither a digit nor whitespace.
                if i == token_start or i - token_start > MAX_TOKEN_DIGITS or value > MAX_TOKEN:
                    good = False
                    break
                n_tokens += 1
                if n_tokens & 1:
                    start = value
                    continue
                length = value
                run_end = start + length - 1
                if length < 1 or start < next_free or run_end > total:
                    good = False
                    break
                # Box of the pixel set, run by run: a run wrapping into the next column covers the full height.
                p0 = start - 1
                col = <int64_t>(p0 * inv_h)
                y = p0 - col * h
                if y < 0:  # the float quotient was one too high
                    col -= 1
                    y += h
                elif y >= h:
                    col += 1
                    y -= h
                if area == 0:
                    x_min = col
                if y + length > h:
                    y_min = 0
                    y_max = h - 1
                else:
                    if y < y_min:
                        y_min = y
                    if y + length - 1 > y_max:
                        y_max = y + length - 1
                if pending_len > 0 and start == next_free:
                    pending_len += length  # touching: one run for pycocotools
                else:
                    if pending_len > 0:  # the previous run is complete: write its gap and length
                        q = _put_count(out, q, pending_start - written_end - prev_gap)
                        q = _put_count(out, q, pending_len - prev_len)
                        if m > 0:
                            prev_gap = pending_start - written_end
                        prev_len = pending_len
                        m += 2
                        written_end = pending_start + pending_len
                    pending_start = start
                    pending_len = length
                area += length
                next_free = run_end + 1
            if not good or n_tokens & 1:
                ok[b] = False
                char_ends[b] = row_q
                q = row_q
                boxes[b, 0] = boxes[b, 1] = boxes[b, 2] = boxes[b, 3] = 0.0
                areas[b] = 0.0
                continue
            if pending_len > 0:
                q = _put_count(out, q, pending_start - written_end - prev_gap)
                q = _put_count(out, q, pending_len - prev_len)
                if m > 0:
                    prev_gap = pending_start - written_end
                m += 2
                x_max = (next_free - 2) // h
                boxes[b, 0] = x_min
                boxes[b, 1] = y_min
                boxes[b, 2] = x_max - x_min + 1
                boxes[b, 3] = y_max - y_min + 1
            else:
                boxes[b, 0] = boxes[b, 1] = boxes[b, 2] = boxes[b, 3] = 0.0
            tail = total - (next_free - 1)  # zeros after the last run (all pixels for an empty mask)
            if tail > 0:
                q = _put_count(out, q, tail - prev_gap)
            ok[b] = True
            char_ends[b] = q
            areas[b] = area
    return q


cdef inline int64_t _parse_uint(const uint8_t[::1] text, int64_t lo, int64_t hi) noexcept nogil:
    """The integer in text[lo:hi] (whitespace around it allowed), or -1 when it is not 1-9 digits."""
    cdef int64_t value = 0, digit
    while lo < hi and _is_space(text[lo]):
        lo += 1
    while hi > lo and _is_space(text[hi - 1]):
        hi -= 1
    if hi == lo or hi - lo > MAX_FIELD_DIGITS:
        return -1
    while lo < hi:
        digit = <int64_t>text[lo] - 48
        if <unsigned long long>digit > 9:
            return -1
        value = value * 10 + digit
        lo += 1
    return value


def parse_uints(const uint8_t[::1] text, const int64_t[::1] bounds, int64_t[::1] values) -> None:
    """values[r] = the integer of row r (``text[bounds[r]:bounds[r + 1]]``), -1 where it is not one.

    text: (T,) uint8; bounds: (B + 1,) int64; values: (B,) int64, written.
    """
    cdef Py_ssize_t r
    if bounds.shape[0] != values.shape[0] + 1:
        raise ValueError("bounds must have B + 1 entries")
    for r in range(values.shape[0]):  # the loop below runs without bounds checks
        if not 0 <= bounds[r] <= bounds[r + 1] <= text.shape[0]:
            raise ValueError(f"row {r}: bytes {bounds[r]}..{bounds[r + 1]} of {text.shape[0]}")
    with nogil:
        for r in range(values.shape[0]):
            values[r] = _parse_uint(text, bounds[r], bounds[r + 1])


def id_list_capacity(int64_t text_bytes, int64_t rows) -> int:
    """Ids that ``parse_id_lists`` may write for ``rows`` rows holding ``text_bytes`` bytes in all."""
    return (text_bytes + rows) // 2 + rows


def parse_id_lists(
    const uint8_t[::1] text,
    const int64_t[::1] bounds,
    const uint8_t[::1] known,
    int64_t[::1] ids,
    int64_t[::1] counts,
    uint8_t[::1] ok,
) -> int:
    """Comma-separated id lists ("115,136, 143"; empty items ignored) → sorted, de-duplicated ids per row.

    text: (T,) uint8; bounds: (B + 1,) int64; known: (K,) bool as uint8, which ids are valid.
    Writes ids: row after row (room for ``id_list_capacity(T, B)``), counts: (B,) ids of each row, ok: (B,)
    False where an item is not an integer or not ``known`` (such a row gets no ids). Returns ids written.
    """
    cdef Py_ssize_t r, n_rows = counts.shape[0]
    cdef int64_t n = 0, first, lo, hi, end, item, k, j, i
    cdef bint good, blank
    if bounds.shape[0] != n_rows + 1 or ok.shape[0] != n_rows:
        raise ValueError("bounds must have B + 1 entries and ok B")
    for r in range(n_rows):  # the loops below run without bounds checks
        if not 0 <= bounds[r] <= bounds[r + 1] <= text.shape[0]:
            raise ValueError(f"row {r}: bytes {bounds[r]}..{bounds[r + 1]} of {text.shape[0]}")
    if n_rows and ids.shape[0] < id_list_capacity(bounds[n_rows] - bounds[0], n_rows):
        raise ValueError(f"ids holds {ids.shape[0]}; need {id_list_capacity(bounds[n_rows] - bounds[0], n_rows)}")
    with nogil:
        for r in range(n_rows):
            first = n
            good = True
            lo = bounds[r]
            end = bounds[r + 1]
            while lo <= end and good:
                hi = lo
                while hi < end and text[hi] != 44:  # ','
                    hi += 1
                item = _parse_uint(text, lo, hi)
                if 0 <= item < known.shape[0] and known[item]:
                    # Insertion into the row's sorted ids (a handful per row), dropping repeats.
                    k = n
                    while k > first and ids[k - 1] > item:
                        k -= 1
                    if k == first or ids[k - 1] != item:
                        j = n
                        while j > k:
                            ids[j] = ids[j - 1]
                            j -= 1
                        ids[k] = item
                        n += 1
                else:
                    blank = True  # an empty item ("", "1,,2", a trailing comma) is allowed
                    for i in range(lo, hi):
                        if not _is_space(text[i]):
                            blank = False
                    good = blank
                lo = hi + 1
            ok[r] = good
            if not good:
                n = first
            counts[r] = n - first
    return n


cdef enum:
    MAX_RLE_NUMBER_CHARS = 12  # pycocotools never writes more than 7; 12 keeps every shift inside int64


def check_coco_strings(
    const uint8_t[::1] text,
    const int64_t[::1] offsets,
    const int64_t[::1] pixels,
    int64_t[::1] totals,
    uint8_t[::1] status,
) -> None:
    """Check n compressed COCO RLE strings as ``maskApi.c rleFrString`` reads them, one pass, no GIL.

    String i is ``text[offsets[i]:offsets[i + 1]]`` of a mask of ``pixels[i]`` = h*w pixels.
    status[i] (written): 0 valid; 1 a char outside '0'..'o'; 2 the string ends inside a number;
    3 a number of more than MAX_RLE_NUMBER_CHARS chars; 4 a run length < 0 or > pixels[i]; 5 the run
    lengths do not sum to pixels[i]. totals[i] (written): the sum of the runs read (up to the problem).
    pycocotools itself checks none of this, and reads past the string (2) or writes past the mask (5).
    """
    cdef Py_ssize_t i, n = pixels.shape[0]
    cdef int64_t p, end, x, k, m, total, run, back1, back2
    cdef int c
    cdef uint8_t code
    if offsets.shape[0] != n + 1 or totals.shape[0] != n or status.shape[0] != n:
        raise ValueError("offsets must have n + 1 entries, totals and status n")
    for i in range(n):  # the loop below runs without bounds checks
        if not 0 <= offsets[i] <= offsets[i + 1] <= text.shape[0]:
            raise ValueError(f"string {i}: bytes {offsets[i]}..{offsets[i + 1]} of {text.shape[0]}")
    with nogil:
        for i in range(n):
            p, end = offsets[i], offsets[i + 1]
            m, total, back1, back2, code = 0, 0, 0, 0, 0
            while p < end and code == 0:
                x, k = 0, 0
                while True:
                    if p >= end:
                        code = 2
                        break
                    c = <int>text[p] - 48
                    if c < 0 or c > 63:
                        code = 1
                        break
                    if k == MAX_RLE_NUMBER_CHARS:
                        code = 3
                        break
                    x |= (<int64_t>(c & 0x1F)) << (5 * k)
                    p += 1
                    k += 1
                    if not (c & 0x20):
                        if c & 0x10:
                            x -= (<int64_t>1) << (5 * k)  # negative: sign-extend
                        break
                if code:
                    break
                run = x + back2 if m > 2 else x  # number m > 2 is stored as run m - run (m - 2)
                if run < 0 or run > pixels[i]:
                    code = 4
                    break
                total += run
                back2, back1 = back1, run
                m += 1
            if code == 0 and total != pixels[i]:
                code = 5
            totals[i] = total
            status[i] = code
