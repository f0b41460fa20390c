// os-release parsing: the real files of the distributions Palisade catalogs, shell quoting, and
// lines that must be ignored rather than executed or trusted.
import { describe, expect, it } from 'vitest';
import { osReleaseCataloger, parseOsRelease, readDistro, shellWord } from './os-release.js';
import { analysisFailure, fileSetOf } from './test-file-set.js';

const parse = (text: string) => parseOsRelease(Buffer.from(text));

describe('parseOsRelease', () => {
  it('reads Debian, Alpine and Wolfi', () => {
    expect(
      parse(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n' +
          'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n',
      ),
    ).toEqual({
      id: 'debian',
      versionId: '12',
      codename: 'bookworm',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
      idLike: [],
    });
    expect(
      parse('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'),
    ).toEqual({
      id: 'alpine',
      versionId: '3.19.1',
      prettyName: 'Alpine Linux v3.19',
      idLike: [],
    });
    expect(parse('ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nHOME_URL="https://wolfi.dev"\n')).toEqual({
      id: 'wolfi',
      prettyName: 'Wolfi',
      idLike: [],
    });
    expect(parse('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n').idLike).toEqual(['debian']);
    expect(parse('ID="rocky"\nID_LIKE="rhel centos fedora"\n').idLike).toEqual(['rhel', 'centos', 'fedora']);
  });

  it('handles shell quoting, escapes and comments', () => {
    expect(shellWord(`'single $literal \\n'`)).toBe('single $literal \\n');
    expect(shellWord('"a \\"quoted\\" \\$x \\\\ \\n"')).toBe('a "quoted" $x \\ \\n');
    expect(shellWord('plain\\ word')).toBe('plain word');
    expect(shellWord('"ab"\'cd\'ef')).toBe('abcdef');
    expect(shellWord('value   # trailing comment')).toBe('value');
    expect(shellWord('"unterminated')).toBeUndefined();
    expect(shellWord('two words')).toBeUndefined();
    expect(parse('# ID=evil\n  ID=debian  \nVERSION_ID="12"\r\n').versionId).toBe('12');
  });

  it('ignores invalid lines and unsafe values, defaulting the ID to linux', () => {
    expect(parse('garbage\n=x\nID="Not Valid"\nVERSION_ID="1 2"\nPRETTY_NAME="a\\\nb"\n')).toEqual({
      id: 'linux',
      idLike: [],
    });
    expect(parse('ID=debian\nID=alpine\n').id).toBe('debian');
    expect(parse('ID=$(reboot)\n').id).toBe('linux');
  });

  it('fails on bytes that are not UTF-8', () => {
    const error = analysisFailure(() =>
      parseOsRelease(Buffer.from([0x49, 0x44, 0x3d, 0xff]), 'usr/lib/os-release'),
    );
    expect(error.reason).toBe('invalid-utf8');
    expect(error.message).toContain('usr/lib/os-release');
  });

  it('reads the first candidate present, and the walker keeps both candidates', () => {
    const files = fileSetOf({ 'usr/lib/os-release': 'ID=debian\n', 'etc/os-release': 'ID=ubuntu\n' });
    expect(readDistro(files)?.id).toBe('ubuntu');
    expect(readDistro(fileSetOf({ 'usr/lib/os-release': 'ID=debian\n' }))?.id).toBe('debian');
    expect(readDistro(fileSetOf({}))).toBeUndefined();
    expect(osReleaseCataloger.wants('etc/os-release')).toBe(true);
    expect(osReleaseCataloger.wants('usr/lib/os-release')).toBe(true);
    expect(osReleaseCataloger.wants('etc/lsb-release')).toBe(false);
    expect(osReleaseCataloger.catalog(files, undefined)).toEqual([]);
  });
});
