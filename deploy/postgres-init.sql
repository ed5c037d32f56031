-- deploy/compose.yml: the databases besides Rasa's tracker (POSTGRES_DB), owned by the same user.
CREATE DATABASE yinling_kb;
CREATE DATABASE yinling_bookings;
CREATE DATABASE yinling_staff;
