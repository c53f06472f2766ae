DROP TABLE nbd_exports; DROP TABLE image_members; DROP TABLE images;
