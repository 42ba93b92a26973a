#!/usr/bin/env node
// Print what mmd-parser (a second, independent MMD parser: the one three.js's MMDLoader uses) reads from a
// .pmx, .pmd or .vmd file, as JSON on stdout, for tests/test_mmd_independent.py to compare with our readers.
//
//   node tests/node/parse_mmd.js FILE
//
// The pinned mmd-parser 1.0.4 is used as published, with two small patches, each applied to exactly one line
// of its source (the script stops if the source is not the expected one):
//   - it compares the PMX version, a float32, with the double 2.1, so it refuses every PMX 2.1 file: the
//     comparison is made with float32 2.1;
//   - it decodes all PMX text as UTF-16, ignoring the header's encoding byte, so UTF-8 files lose their names
//     and, with an odd byte count, their layout: UTF-8 text is read as UTF-8 instead;
//   - it refuses QDEF vertices (PMX 2.1, weight type 4), which the PMX 2.1 spec lays out exactly like BDEF4:
//     they are read like BDEF4 (their type stays 4).
// Bytes read are tracked through a DataView subclass (the parser's logic untouched), so a test can check
// that a model was parsed to its last byte.
'use strict';

const fs = require('fs');
const path = require('path');

const PATCHES = [
    ['metadata.version !== 2.1', 'metadata.version !== Math.fround( 2.1 )'],
    ['metadata.encoding = dv.getUint8();', 'metadata.encoding = dv.getUint8(); dv.utf8 = metadata.encoding === 1;'],
    ['return this.getUnicodeStrings( size );',
     'if ( this.utf8 ) { var a = []; for ( var i = 0; i < size; i++ ) a.push( this.getUint8() ); ' +
     'return new TextDecoder( "utf-8" ).decode( Uint8Array.from( a ) ); } return this.getUnicodeStrings( size );'],
    ['} else if ( p.type === 2 ) {  // BDEF4', '} else if ( p.type === 2 || p.type === 4 ) {  // BDEF4 (and QDEF)'],
];

let bytesRead = 0;

class TrackingDataView extends DataView {}
for (const [method, size] of [['Int8', 1], ['Uint8', 1], ['Int16', 2], ['Uint16', 2], ['Int32', 4], ['Uint32', 4],
                              ['Float32', 4], ['Float64', 8]]) {
    const original = DataView.prototype['get' + method];
    TrackingDataView.prototype['get' + method] = function (offset, little) {
        const value = original.call(this, offset, little);  // throws RangeError past the end, as DataView does
        bytesRead = Math.max(bytesRead, offset + size);
        return value;
    };
}

function loadParser() {
    const file = require.resolve('mmd-parser', {paths: [__dirname]});
    let source = fs.readFileSync(file, 'utf8');
    for (const [from, to] of PATCHES) {
        const count = source.split(from).length - 1;
        if (count !== 1) {
            throw new Error(`${file}: expected "${from}" once, found it ${count} times (not mmd-parser 1.0.4?)`);
        }
        source = source.replace(from, () => to);
    }
    const module = {exports: {}};
    new Function('exports', 'module', 'DataView', source)(module.exports, module, TrackingDataView);
    return module.exports;
}

function plain(value) {
    // Typed arrays -> lists, NaN/Infinity -> strings (JSON has neither), recursively.
    if (ArrayBuffer.isView(value)) return Array.from(value, plain);
    if (Array.isArray(value)) return value.map(plain);
    if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
    if (value && typeof value === 'object') {
        const out = {};
        for (const [k, v] of Object.entries(value)) out[k] = plain(v);
        return out;
    }
    return value;
}

function main() {
    const file = process.argv[2];
    if (!file) {
        process.stderr.write('usage: node parse_mmd.js FILE.pmx|FILE.pmd|FILE.vmd\n');
        process.exit(2);
    }
    const data = fs.readFileSync(file);
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
    const parser = new (loadParser().Parser)();
    const kind = path.extname(file).toLowerCase();
    const parse = {'.pmx': 'parsePmx', '.pmd': 'parsePmd', '.vmd': 'parseVmd'}[kind];
    if (!parse) {
        process.stderr.write(`${file}: not a .pmx, .pmd or .vmd file\n`);
        process.exit(2);
    }
    const result = parser[parse](buffer, false);  // false: keep MMD's left-handed axes, as our readers do
    result.bytesRead = bytesRead;
    result.size = data.length;
    process.stdout.write(JSON.stringify(plain(result)));
}

main();
