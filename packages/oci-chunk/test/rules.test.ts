/** Small rules the pipeline's safety and semantics rest on. */
import { describe as suite, expect, it } from 'vitest';
import { symlinkEscapesRoot } from '../src/extract.ts';
import { isPruned, parsePruneRules } from '../src/scan/index.ts';
import { canonicalJson, imagePathFromEntryName } from '../src/util.ts';

suite('entry names', () => {
  it('normalises relative names and the root', () => {
    expect(imagePathFromEntryName('./usr/bin/', 'x')).toBe('/usr/bin');
    expect(imagePathFromEntryName('usr//lib/./x', 'x')).toBe('/usr/lib/x');
    for (const root of ['', '.', './', '/', '//']) expect(imagePathFromEntryName(root, 'x')).toBe('/');
  });
  it('refuses climbing and absolute names', () => {
    expect(() => imagePathFromEntryName('a/../../b', 'L')).toThrow('L: entry "a/../../b" contains ".."');
    expect(() => imagePathFromEntryName('..', 'L')).toThrow('contains ".."');
    expect(() => imagePathFromEntryName('/etc/shadow', 'L')).toThrow('has an absolute path');
    expect(() => imagePathFromEntryName('/..', 'L')).toThrow();
  });
});

suite('prune rules', () => {
  const rules = parsePruneRules(['/var/cache', '/usr/share/doc/']);
  it('"/p" drops the path and its subtree, not its siblings', () => {
    expect(isPruned('/var/cache', rules)).toBe(true);
    expect(isPruned('/var/cache/apt/x', rules)).toBe(true);
    expect(isPruned('/var/cache2', rules)).toBe(false);
    expect(isPruned('/var', rules)).toBe(false);
  });
  it('"/p/" keeps the directory and drops its children', () => {
    expect(isPruned('/usr/share/doc', rules)).toBe(false);
    expect(isPruned('/usr/share/doc/bash', rules)).toBe(true);
  });
  it('rejects relative or climbing specs', () => {
    expect(() => parsePruneRules(['var'])).toThrow('must be an absolute path');
    expect(() => parsePruneRules(['/var/../etc'])).toThrow('must not contain ".."');
  });
});

suite('symlink escapes', () => {
  it('relative targets climbing above the root escape; others do not', () => {
    expect(symlinkEscapesRoot('/etc/x', '../../outside')).toBe(true);
    expect(symlinkEscapesRoot('/x', '..')).toBe(true);
    expect(symlinkEscapesRoot('/etc/os-release', '../usr/lib/os-release')).toBe(false);
    expect(symlinkEscapesRoot('/a/b/c', '../../d/../e')).toBe(false);
    // Absolute targets are resolved inside the image by its users, and extract never follows them.
    expect(symlinkEscapesRoot('/bin/sh', '/usr/bin/dash')).toBe(false);
  });
});

suite('canonical JSON', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[{"y":2,"z":1}]},"b":1}');
  });
});
