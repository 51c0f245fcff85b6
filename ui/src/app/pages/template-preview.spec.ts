import { parseSampleData } from './template-preview';

describe('parseSampleData', () => {
  it('reads a JSON object of template variables', () => {
    expect(parseSampleData('{"first_name": "Ada", "n": 3}')).toEqual({ first_name: 'Ada', n: 3 });
  });

  it('treats an empty field as no variables', () => {
    expect(parseSampleData('  ')).toEqual({});
  });

  it.each([
    ['{first_name: Ada}', /must be JSON/],
    ['[1, 2]', /JSON object/],
    ['"Ada"', /JSON object/],
    ['null', /JSON object/],
  ])('refuses %s in words', (text, message) => {
    expect(() => parseSampleData(text)).toThrow(message);
  });
});
