-- depends: 0001_schema
INSERT INTO tenant (slug, name, settings)
VALUES ('demo', 'Demo', '{"locale": "ru", "welcome_message": "Здравствуйте! Чем могу помочь?"}'::jsonb)
ON CONFLICT (slug) DO NOTHING;
