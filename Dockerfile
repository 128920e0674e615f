# The QualityPulse Airflow image: Airflow's own image plus the project and its pinned dependencies.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/qualitypulse/
COPY --chown=airflow:root core /opt/qualitypulse/core
COPY --chown=airflow:root transforms /opt/qualitypulse/transforms
COPY --chown=airflow:root sources /opt/qualitypulse/sources
COPY --chown=airflow:root expectations /opt/qualitypulse/expectations
COPY --chown=airflow:root warehouse /opt/qualitypulse/warehouse
COPY --chown=airflow:root alerts /opt/qualitypulse/alerts
COPY --chown=airflow:root report /opt/qualitypulse/report
COPY --chown=airflow:root pipeline /opt/qualitypulse/pipeline
COPY --chown=airflow:root demo /opt/qualitypulse/demo
COPY --chown=airflow:root orchestration /opt/qualitypulse/orchestration
COPY --chown=airflow:root cli /opt/qualitypulse/cli
COPY --chown=airflow:root dags /opt/airflow/dags

# Keep the image's Airflow version while installing exactly the tested set of everything else.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/qualitypulse/requirements.lock \
 && pip install --no-cache-dir --no-deps /opt/qualitypulse
