-- 0009: a search that forgives, and banners in the customer's language (issue #9, items 5 and 11).
-- Reason (search): customers type the same product many ways: Uzbek in Cyrillic ("чой") or Latin
-- ("choy"), "мед" for "мёд", Russian letters for Latin brands ("самсунг"), a letter missed
-- ("samsng"). store_search_fold() brings every spelling to one Latin skeleton (lower case; ё = е;
-- Uzbek and Russian Cyrillic to Uzbek Latin: ш sh, ч ch, ў o, ғ g, қ/q k, ҳ/х/x h, дж/ж j …;
-- apostrophes of o' g' dropped; anything but letters and digits a single space). `search_text`
-- keeps both names and the SKU folded (generated, so every write path keeps it right without code),
-- wrapped in spaces so whole words can be matched with LIKE '% word %'. The trigram index serves
-- the substring match (LIKE) and the typo match (pg_trgm's word similarity, <%). The function is
-- IMMUTABLE (a generated column needs that): it depends on nothing but its argument.
-- Reason (banners): a banner's artwork carries words; `image_url_ru` is the Russian artwork, shown
-- to Russian-speaking customers; NULL falls back to `image_url`.

CREATE FUNCTION store_search_fold(value TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT btrim(regexp_replace(translate(translate(
        replace(replace(replace(replace(replace(replace(replace(replace(replace(
            lower(translate(value, 'АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯЎҚҒҲ', 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ')),
            'дж', 'j'), 'ж', 'j'), 'ш', 'sh'), 'щ', 'sh'), 'ч', 'ch'), 'ю', 'yu'), 'я', 'ya'), 'ц', 's'), 'ph', 'f'),
        'абвгдеёзийклмнопрстуфхыэўқғҳъь' || '''ʻʼ‘’`´',
        'abvgdeeziyklmnoprstufhieokgh'),
        'xq', 'hk'), '[^a-z0-9]+', ' ', 'g'))
$$;

ALTER TABLE products ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    ' ' || store_search_fold(name_uz) || ' ' || store_search_fold(COALESCE(name_ru, '')) || ' '
    || store_search_fold(sku) || ' '
) STORED;

CREATE INDEX idx_products_search_text_trgm ON products USING gin (search_text gin_trgm_ops);

ALTER TABLE banners ADD COLUMN image_url_ru TEXT;
