module.exports = { f: (x) => x * 3 };
