DROP TABLE licet_meta;
