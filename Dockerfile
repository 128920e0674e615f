# The QualityPulse Airflow image: Airflow's own image plus the QualityPulse wheel and the runtime lock only (no test,
# lint or browser tools). The same wheel and lock are installed and run outside the repository by
# tests/integration/test_packaging.py.

# Stage 1: build the wheel from the source tree (package data included: migrations, rules, report assets).
FROM python:3.11.14-slim-bookworm AS wheel
RUN pip install --no-cache-dir uv==0.13.10
COPY . /src
RUN uv build --wheel --out-dir /dist /src

# Stage 2: Airflow with the wheel. Keep the image's Airflow version while installing exactly the tested runtime set.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.lock /opt/qualitypulse/requirements.lock
COPY --from=wheel --chown=airflow:root /dist/ /opt/qualitypulse/dist/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/qualitypulse/requirements.lock \
 && pip install --no-cache-dir --no-deps /opt/qualitypulse/dist/qualitypulse-*.whl
# The DAG files are the only source the scheduler reads; everything they import comes from the wheel.
COPY --chown=airflow:root dags /opt/airflow/dags
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    QP_DATA_DIR=/opt/qualitypulse-data
