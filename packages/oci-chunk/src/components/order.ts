/**
 * Code point order for strings. JavaScript's default string comparison orders UTF-16 code units,
 * which differs from code point order (and from byte order of UTF-8) once characters outside the
 * Basic Multilingual Plane meet characters in U+E000..U+FFFF. FileMap paths are in code point
 * order, so everything this phase sorts uses the same order.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates (0xD800..0xDFFF) stand for code points above 0xFFFF: move them above E000..FFFF.
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}
