throw new Error('import boom');
